"""What the catalog raises when it cannot do as asked; the message is for the user."""


class CatalogError(Exception):
    pass
