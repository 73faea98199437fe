from tests.command_center.taskforces.helpers import published

__all__ = ["published"]
