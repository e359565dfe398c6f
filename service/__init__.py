"""guideline-qa service: the FastAPI app over the live index (see service/app.py).

Settings are in service/settings.py; the process-wide switches (one BLAS thread, offline model libraries)
are set by the entry points (`service.app.app_from_env`, `python -m service.serve`), not on import.
"""
