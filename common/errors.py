class AllotError(Exception):
    """A business rule said no. The message is for the user; `field` names the input it concerns.

    One handler maps it to HTTP 400 in the API; forms and admin actions show it as a message.
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
