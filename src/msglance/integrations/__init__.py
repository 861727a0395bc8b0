"""Adapters to other libraries' interfaces (each needs that library installed):
:mod:`msglance.integrations.torchmetrics`."""
