"""The file format as models: jobs, tasks, and the clock they are stamped with."""
