"""Training and evaluation: fold data, schedules, the trainer, evaluators, metrics."""
