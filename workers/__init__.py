"""RQ jobs and the worker entry point; jobs take ids and reload state."""
