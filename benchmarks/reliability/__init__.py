"""`make reliability`: every fault, through the local stack, counted from the stores. See `__main__`."""
