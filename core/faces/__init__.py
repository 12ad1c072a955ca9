"""Faces and people: detection and recognition, grouping (pure numpy), the people service, crops, portability."""
