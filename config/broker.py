"""The serverless default broker: kombu's filesystem transport in one folder.

Unlike the SQLAlchemy transport it supports broadcast, so remote control (`celery inspect ping`)
works without a server."""

from pathlib import Path

FILESYSTEM_BROKER_URL = "filesystem://"


def filesystem_broker_options(folder: Path) -> dict:
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
