"""Id-CLIP: identity-aware text queries (the research this product starts from). `model` is the translator around
CLIP, `data` the COCO Person FaceSwap layout, `train`/`evaluate` the paper's recipe and metrics, `adapt` the same on
the user's own named people. torch is needed here, and only here."""
