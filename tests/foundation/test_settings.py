from pathlib import Path

import pytest

from ofca.settings import SettingsError, load_settings


def test_defaults_are_embedded() -> None:
    settings = load_settings({}, dotenv=None)
    assert settings.database_url == "sqlite:///ofca.sqlite"
    assert not settings.is_postgres
    assert settings.redis_url is None
    assert settings.max_ws_message_bytes == 64 * 1024 * 1024
    assert settings.session_gap_minutes == 30
    assert settings.silence_threshold_seconds == 120
    assert settings.reply_sla_seconds == 300


def test_values_are_converted_from_strings() -> None:
    settings = load_settings(
        {
            "OFCA_DATABASE_URL": "postgres://u@h:5432/db",
            "OFCA_PORT": "9001",
            "OFCA_SESSION_GAP_MINUTES": "45.5",
            "OFCA_CORS_ORIGINS": "https://a.example, https://b.example",
            "OFCA_EXTENSION_ID": "abcdef",
            "UNRELATED": "x",
        },
        dotenv=None,
    )
    assert settings.is_postgres
    assert settings.port == 9001
    assert settings.session_gap_minutes == 45.5
    assert settings.allowed_origins == [
        "https://a.example",
        "https://b.example",
        "chrome-extension://abcdef",
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OFCA_PORT", "eighty"),
        ("OFCA_PORT", "70000"),
        ("OFCA_SESSION_GAP_MINUTES", "0"),
        ("OFCA_SILENCE_THRESHOLD_SECONDS", "-1"),
        ("OFCA_REPLY_SLA_SECONDS", "soon"),
        ("OFCA_MAX_WS_MESSAGE_BYTES", "10"),
        ("OFCA_LOG_LEVEL", "LOUD"),
        ("OFCA_SECRET_KEY", "short"),
        ("OFCA_DATABASE_URL", "mysql://x"),
        ("OFCA_REDIS_URL", "http://x"),
        ("OFCA_TRIAGE_HORIZON_HOURS", "-1"),
        ("OFCA_TRIAGE_HORIZON_HOURS", "a day"),
        ("OFCA_TRIAGE_HORIZON_HOURS", "9000"),
        ("OFCA_WS_FRAME_BURST", "0"),
        ("OFCA_WS_FRAME_BURST", "many"),
    ],
)
def test_invalid_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings({variable: value}, dotenv=None)
    assert variable in str(excinfo.value)


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nOFCA_PORT=8123\nexport OFCA_HOST='0.0.0.0'\nOFCA_REPLY_SLA_SECONDS=60\n"
    )
    settings = load_settings({"OFCA_REPLY_SLA_SECONDS": "90"}, dotenv=dotenv)
    assert settings.port == 8123
    assert settings.host == "0.0.0.0"
    assert settings.reply_sla_seconds == 90


def test_invalid_value_in_dotenv_is_reported(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("OFCA_WS_FRAMES_PER_MINUTE=lots\n")
    with pytest.raises(SettingsError, match="OFCA_WS_FRAMES_PER_MINUTE"):
        load_settings({}, dotenv=dotenv)


def test_triage_horizon_defaults_to_a_day_and_zero_means_none() -> None:
    default = load_settings({}, dotenv=None)
    assert default.triage_horizon_hours == 24
    assert default.triage.horizon_seconds == 86_400
    assert default.triage.sla_seconds == 300
    everything = load_settings(
        {"OFCA_TRIAGE_HORIZON_HOURS": "0", "OFCA_REPLY_SLA_SECONDS": "120"}, dotenv=None
    )
    assert everything.triage.horizon_seconds is None
    assert everything.triage.sla_seconds == 120
