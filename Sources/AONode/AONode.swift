/// AONode: the shell that drives the pure cores and executes their directives.
