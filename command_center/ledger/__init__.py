"""The dynamic ledger (动态管理台账): problems, responsibility, deadlines and three-colour warnings."""
