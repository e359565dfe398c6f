"""Settings that ingest and the service both read: where the store is and which model fills it.

Each reader owns the rest: the service's own settings are in `service/settings.py` (a subclass of
`StoreSettings`, so the same object also opens the store). Ingest reads nothing beyond these. The `GQA_*`
variable names are the contract in DESIGN.md and the README.
"""

from config.loading import InvalidSettings, load_settings
from config.process import prepare_process
from config.store_settings import EmbedBackend, StoreSettings, get_store_settings

__all__ = [
    "EmbedBackend",
    "InvalidSettings",
    "StoreSettings",
    "get_store_settings",
    "load_settings",
    "prepare_process",
]
