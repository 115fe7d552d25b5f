"""Writing help on the instance's own hardware: the queue, the worker and the use cases interfaces call."""
