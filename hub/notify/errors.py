class DeliveryError(Exception):
    """A receiver did not take a notification. `permanent` ones are not retried (they cannot succeed)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
