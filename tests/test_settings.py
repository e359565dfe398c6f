"""Settings: every documented `GQA_*` variable still reaches its reader, bad values stop start-up with one
line naming the variable, and importing the packages leaves the environment alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import threadpoolctl

from config import InvalidSettings, StoreSettings, load_settings, prepare_process
from ingest.__main__ import main as ingest_main
from ingest.embedding import _model_fingerprint, default_model_dir, get_embedder
from service.app import app_from_env
from service.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent

# (variable, value set, attribute, value read): the README's configuration table, one row per variable
VARIABLES = [
    ("GQA_STORE_DIR", "/srv/gqa-store", "store_dir", Path("/srv/gqa-store")),
    ("GQA_CHROMA_URL", "http://chroma:8000", "chroma_url", "http://chroma:8000"),
    ("GQA_EMBED_MODEL", str(ROOT / "corpus"), "embed_model", ROOT / "corpus"),  # any existing folder
    ("GQA_EMBED_BACKEND", "torch", "embed_backend", "torch"),
    ("GQA_COLLECTION_PREFIX", "other", "collection_prefix", "other"),
    ("GQA_CACHE_DIR", "/var/cache/gqa", "cache_dir", Path("/var/cache/gqa")),
    ("GQA_LLM_BASE_URL", "http://llm:8080/v1", "llm_base_url", "http://llm:8080/v1"),
    ("GQA_LLM_MODEL", "small", "llm_model", "small"),
    ("GQA_LLM_API_KEY", "sk-test", "llm_api_key", "sk-test"),
    ("GQA_LLM_TIMEOUT_S", "7.5", "llm_timeout_s", 7.5),
    ("GQA_LLM_MAX_CONCURRENCY", "2", "llm_max_concurrency", 2),
    ("GQA_ADMIN_TOKEN", "t0k", "admin_token", "t0k"),
    ("GQA_GUARDRAILS_DIR", "/etc/gqa/guardrails", "guardrails_dir", Path("/etc/gqa/guardrails")),
    ("GQA_AUDIT_LOG", "/var/log/gqa/audit.jsonl", "audit_log", Path("/var/log/gqa/audit.jsonl")),
    ("GQA_AUDIT_RAW_TEXT", "true", "audit_raw_text", True),
    ("GQA_HASH_KEY", "shared-secret", "hash_key", "shared-secret"),
    ("GQA_RETRIEVAL_K", "8", "retrieval_k", 8),
    ("GQA_CANDIDATE_DEPTH", "40", "candidate_depth", 40),
    ("GQA_MAX_BODY_BYTES", "1024", "max_body_bytes", 1024),
    ("GQA_RATE_LIMIT_PER_MINUTE", "0", "rate_limit_per_minute", 0),
    ("GQA_RATE_LIMIT_STORAGE", "redis://r:6379", "rate_limit_storage", "redis://r:6379"),
    ("GQA_CORS_ORIGINS", "https://a.org, https://b.org/", "cors_origins", ["https://a.org", "https://b.org"]),
    ("GQA_FORWARDED_ALLOW_IPS", "10.0.0.5", "forwarded_allow_ips", "10.0.0.5"),
    ("GQA_LIMIT_CONCURRENCY", "16", "limit_concurrency", 16),
    ("GQA_TIMEOUT_KEEP_ALIVE_S", "9", "timeout_keep_alive_s", 9),
    ("GQA_MAX_HEADER_BYTES", "4096", "max_header_bytes", 4096),
    ("GQA_FEEDBACK_PER_CLIENT_PER_HOUR", "3", "feedback_per_client_per_hour", 3),
    ("GQA_FEEDBACK_MAX_BYTES", "2048", "feedback_max_bytes", 2048),
    ("GQA_ANSWER_RECORD_HOURS", "1.5", "answer_record_hours", 1.5),
    ("GQA_ANSWER_RECORDS_MAX", "10", "answer_records_max", 10),
    ("GQA_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("GQA_LOG_JSON", "false", "log_json", False),
    ("GQA_LOG_RAW_TEXT", "1", "log_raw_text", True),
]
SHARED = {"store_dir", "chroma_url", "embed_model", "embed_backend", "collection_prefix", "cache_dir"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No `GQA_*` variable from the outer environment, and no settings cached from another test."""
    for name in [n for n in os.environ if n.startswith("GQA_")]:
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("variable", "raw", "attribute", "expected"), VARIABLES, ids=[v[0] for v in VARIABLES]
)
def test_every_documented_variable_reaches_its_setting(clean_env, variable, raw, attribute, expected) -> None:
    clean_env.setenv(variable, raw)
    assert getattr(load_settings(Settings), attribute) == expected
    if attribute in SHARED:  # ingest reads the same variable through the shared settings
        assert getattr(load_settings(StoreSettings), attribute) == expected
    assert Settings.model_fields[attribute].get_default(call_default_factory=True) != expected  # not a no-op


def test_defaults_without_any_variable(clean_env) -> None:
    settings = load_settings(Settings)
    assert settings.store_dir == Path(".store") and settings.embed_backend == "onnx-int8"
    assert settings.cache_dir == Path.home() / ".cache" / "guideline-qa"
    assert settings.audit_log_path == Path(".store") / "audit.jsonl"


def test_the_service_settings_open_the_store_ingest_wrote() -> None:
    """The service hands its settings to the store and embedder, which take the shared settings."""
    assert issubclass(Settings, StoreSettings)
    assert SHARED <= set(StoreSettings.model_fields) and SHARED <= set(Settings.model_fields)
    assert "llm_base_url" not in StoreSettings.model_fields  # ingest carries none of the service's


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("GQA_EMBED_BACKEND", "onnx-q4", "GQA_EMBED_BACKEND: Input should be 'onnx-int8', 'onnx' or 'torch'"),
        ("GQA_EMBED_MODEL", "sentence-transformers/all-MiniLM-L6-v2", "never downloads models"),
        ("GQA_LOG_LEVEL", "loud", "GQA_LOG_LEVEL: Input should be 'DEBUG', 'INFO'"),
        ("GQA_RETRIEVAL_K", "0", "GQA_RETRIEVAL_K: Input should be greater than or equal to 1"),
        ("GQA_LLM_TIMEOUT_S", "soon", "GQA_LLM_TIMEOUT_S: Input should be a valid number"),
    ],
)
def test_an_invalid_value_is_one_line_naming_the_variable(clean_env, variable, raw, expected) -> None:
    clean_env.setenv(variable, raw)
    with pytest.raises(InvalidSettings) as info:
        load_settings(Settings)
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_the_message_names_every_bad_variable_but_repeats_no_value(clean_env) -> None:
    clean_env.setenv("GQA_EMBED_BACKEND", "cuda")
    clean_env.setenv("GQA_FEEDBACK_MAX_BYTES", "sk-live-abcdef")  # a secret pasted into the wrong variable
    with pytest.raises(InvalidSettings) as info:
        load_settings(Settings)
    assert "GQA_EMBED_BACKEND" in str(info.value) and "GQA_FEEDBACK_MAX_BYTES" in str(info.value)
    assert "sk-live-abcdef" not in str(info.value) and "cuda" not in str(info.value)


def test_ingest_cli_refuses_an_invalid_setting_before_touching_the_store(clean_env, tmp_path, capsys) -> None:
    clean_env.setenv("GQA_STORE_DIR", str(tmp_path / "store"))
    clean_env.setenv("GQA_EMBED_BACKEND", "onnx-q4")
    assert ingest_main(["--quiet", str(ROOT / "corpus")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: invalid setting GQA_EMBED_BACKEND:"), err
    assert not (tmp_path / "store").exists()


@pytest.mark.e2e
def test_serve_refuses_to_start_with_an_invalid_setting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GQA_")}
    proc = subprocess.run(
        [sys.executable, "-m", "service.serve", "--port", "1"],  # would fail to bind if it got that far
        cwd=ROOT,
        env={**env, "GQA_LOG_LEVEL": "verbose"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: invalid setting GQA_LOG_LEVEL: "
        "Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"
    ]


def test_the_app_factory_refuses_an_invalid_setting(clean_env) -> None:
    clean_env.setenv("GQA_RATE_LIMIT_PER_MINUTE", "lots")
    with pytest.raises(InvalidSettings, match="GQA_RATE_LIMIT_PER_MINUTE"):
        app_from_env()


def test_cache_dir_setting_is_where_the_onnx_model_is_read(clean_env, tmp_path) -> None:
    """GQA_CACHE_DIR goes through the settings: a broken export planted there is what the embedder loads."""
    planted = tmp_path / "onnx" / f"{_model_fingerprint(default_model_dir())}.onnx"
    planted.parent.mkdir()
    planted.write_bytes(b"not an onnx graph")
    clean_env.setenv("GQA_CACHE_DIR", str(tmp_path))
    clean_env.setenv("GQA_EMBED_BACKEND", "onnx")
    clean_env.setenv("GQA_EMBED_ADAPTER", "0")  # the base model's graph is the one planted
    with pytest.raises(Exception, match=str(planted)):
        get_embedder(load_settings(StoreSettings))


@pytest.mark.e2e
def test_importing_the_packages_changes_no_environment_variable() -> None:
    code = (
        "import os; before = dict(os.environ)\n"
        "import config, ingest.__main__, ingest.embedding\n"
        "import service, service.app, service.serve, service.settings\n"
        "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))\n"
        "print(changed)\n"
    )
    keep = {"PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_prepare_process_sets_the_model_switches_but_keeps_the_operators(clean_env) -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM"):
        clean_env.setenv(name, "")
        clean_env.delenv(name)
    clean_env.setenv("TOKENIZERS_PARALLELISM", "true")
    prepare_process()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["TOKENIZERS_PARALLELISM"] == "true"


def test_the_service_runs_blas_on_one_thread_unless_the_operator_says_otherwise(clean_env) -> None:
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    before = [info["num_threads"] for info in blas.info()]
    if not before:
        pytest.fail("numpy loaded no BLAS library that threadpoolctl can see")
    try:
        blas.limit(limits=2)
        clean_env.setenv("OPENBLAS_NUM_THREADS", "2")
        prepare_process(single_threaded_blas=True)
        assert {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"} == {2}
        clean_env.delenv("OPENBLAS_NUM_THREADS")
        clean_env.delenv("MKL_NUM_THREADS", raising=False)
        prepare_process(single_threaded_blas=True)
        assert {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"} == {1}
    finally:
        blas.limit(limits=max(before))
