"""Settings: one pydantic-settings model, built once at start and passed down.

Nothing else in the code base reads the environment. A bad value fails at
start with one line naming the variable and what is wrong (`load_settings`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting has a bad value; the message is one line naming the variable."""


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Everything teambot can be told, with the environment variable names users set."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- storage -----------------------------------------------------------
    data_dir: Path = Field(Path("./data"), validation_alias=_env("TEAMBOT_DATA_DIR"))
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    chroma_host: str | None = Field(None, validation_alias=_env("CHROMA_HOST"))
    chroma_port: int = Field(8000, ge=1, le=65535, validation_alias=_env("CHROMA_PORT"))
    chroma_ssl: bool = Field(False, validation_alias=_env("CHROMA_SSL"))

    # --- embedded Redis (used when REDIS_URL is unset) ------------------------------
    redis_start_timeout_s: float = Field(
        30.0, gt=0, le=3600, validation_alias=_env("TEAMBOT_REDIS_START_TIMEOUT"),
        description="Seconds the embedded redis-server has to answer at start (it loads its history file first).",
    )

    # --- model ---------------------------------------------------------------
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    chat_model: str = Field("gpt-4o-mini", min_length=1, validation_alias=_env("TEAMBOT_CHAT_MODEL"))
    embedding_model: str | None = Field(
        None,
        validation_alias=_env("TEAMBOT_EMBEDDING_MODEL"),
        description="OpenAI-compatible embedding model; unset = the bundled offline model.",
    )
    model_timeout_s: float = Field(60.0, gt=0, validation_alias=_env("TEAMBOT_MODEL_TIMEOUT"))
    model_max_retries: int = Field(2, ge=0, le=10, validation_alias=_env("TEAMBOT_MODEL_MAX_RETRIES"))
    temperature: float = Field(0.1, ge=0, le=2, validation_alias=_env("TEAMBOT_TEMPERATURE"))

    # --- model limits and context budget (issue 18: real model servers) ------------
    max_answer_tokens: int = Field(
        768, ge=16, le=65536, validation_alias=_env("TEAMBOT_MAX_ANSWER_TOKENS"),
        description="Most tokens an answer may take (sent as max_tokens); an answer cut there says so.",
    )
    max_condense_tokens: int = Field(
        96, ge=8, le=4096, validation_alias=_env("TEAMBOT_MAX_CONDENSE_TOKENS"),
        description="Most tokens of the search query a follow-up question is rewritten into.",
    )
    model_context_tokens: int = Field(
        4096, ge=512, le=10_000_000, validation_alias=_env("TEAMBOT_MODEL_CONTEXT_TOKENS"),
        description="The model's context window in tokens: prompts are trimmed to fit it with the answer.",
    )

    # --- retrieval -------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, validation_alias=_env("TEAMBOT_TOP_K"))
    chunk_size: int = Field(1000, ge=100, le=20000, validation_alias=_env("TEAMBOT_CHUNK_SIZE"))
    chunk_overlap: int = Field(150, ge=0, le=5000, validation_alias=_env("TEAMBOT_CHUNK_OVERLAP"))
    min_relevance: float = Field(
        0.3,
        ge=0,
        le=1,
        validation_alias=_env("TEAMBOT_MIN_RELEVANCE"),
        description="Share of the question's weighted terms the best passage must cover to be used.",
    )
    answer_similarity_neutral: float | None = Field(
        None,
        ge=-1,
        le=1,
        validation_alias=_env("TEAMBOT_ANSWER_SIMILARITY_NEUTRAL"),
        description="Cosine similarity of a sentence to the question that counts neither for nor against an "
                    "answer; unset = calibrated for the bundled model, not used with other embedding models.",
    )

    # --- ingestion limits --------------------------------------------------------
    max_upload_mb: float = Field(20.0, gt=0, validation_alias=_env("TEAMBOT_MAX_UPLOAD_MB"))
    max_pages: int = Field(2000, ge=1, validation_alias=_env("TEAMBOT_MAX_PAGES"))
    max_chunks_per_document: int = Field(20000, ge=1, validation_alias=_env("TEAMBOT_MAX_CHUNKS"))
    parse_timeout_s: float = Field(60.0, gt=0, validation_alias=_env("TEAMBOT_PARSE_TIMEOUT"))
    parse_memory_mb: int = Field(1024, ge=128, validation_alias=_env("TEAMBOT_PARSE_MEMORY_MB"))
    max_unzipped_mb: int = Field(200, ge=1, validation_alias=_env("TEAMBOT_MAX_UNZIPPED_MB"))

    # --- file parsing: extracted text and reader processes (issue 17, parsers) ----------
    max_extracted_chars: int = Field(
        10_000_000, ge=1000, validation_alias=_env("TEAMBOT_MAX_EXTRACTED_CHARS"),
        description="Characters of text one document may yield (CSV and JSON count their rendered rows).",
    )
    parse_workers: int = Field(
        2, ge=1, le=16, validation_alias=_env("TEAMBOT_PARSE_WORKERS"),
        description="Files read at once, each in its own process capped at TEAMBOT_PARSE_MEMORY_MB.",
    )

    # --- history -----------------------------------------------------------------
    history_max_turns: int = Field(20, ge=1, le=1000, validation_alias=_env("TEAMBOT_HISTORY_TURNS"))
    history_ttl_s: int = Field(7 * 24 * 3600, ge=60, validation_alias=_env("TEAMBOT_HISTORY_TTL"))

    # --- serving -------------------------------------------------------------------
    http_host: str = Field("0.0.0.0", validation_alias=_env("TEAMBOT_HTTP_HOST"))
    http_port: int = Field(3000, ge=1, le=65535, validation_alias=_env("TEAMBOT_HTTP_PORT", "PORT"))
    shutdown_grace_s: float = Field(30.0, ge=0, validation_alias=_env("TEAMBOT_SHUTDOWN_GRACE"))
    readiness_cache_s: float = Field(
        2.0, ge=0, le=60, validation_alias=_env("TEAMBOT_READINESS_CACHE"),
        description="Seconds a /readyz result is reused, so a flood of probes pings the dependencies once.",
    )
    api_token: SecretStr | None = Field(
        None, validation_alias=_env("TEAMBOT_API_TOKEN"),
        description="Bearer token of the HTTP API under /api/v1; unset = the API is disabled.",
    )

    # --- Slack ------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    slack_follow_up_without_mention: bool = Field(True, validation_alias=_env("SLACK_FOLLOW_UPS"))
    slack_ask_command: str = Field("/ask", validation_alias=_env("SLACK_ASK_COMMAND"))
    slack_upload_command: str = Field("/upload", validation_alias=_env("SLACK_UPLOAD_COMMAND"))
    slack_kb_command: str = Field("/kb", validation_alias=_env("SLACK_KB_COMMAND"))

    # --- Discord ---------------------------------------------------------------------
    discord_token: SecretStr | None = Field(None, validation_alias=_env("DISCORD_TOKEN"))
    discord_guild_ids: str = Field(
        "", validation_alias=_env("DISCORD_GUILD_IDS"),
        description="Comma-separated guild ids to sync slash commands to at start; empty = global.",
    )
    discord_message_content: bool = Field(
        True, validation_alias=_env("DISCORD_MESSAGE_CONTENT"),
        description="Ask for the privileged message content intent; false: read only mentions, replies to the "
                    "bot, DMs, slash commands and context menus (no intent to enable in the Developer Portal).",
    )

    # --- usage statistics and reports --------------------------------------------------
    usage_retention_days: int = Field(400, ge=1, le=3650, validation_alias=_env("TEAMBOT_USAGE_RETENTION_DAYS"))
    price_per_1k_input: float | None = Field(
        None, ge=0, validation_alias=_env("TEAMBOT_PRICE_PER_1K_INPUT"),
        description="Price of 1000 input tokens; set it (and the output price) to see estimated costs.",
    )
    price_per_1k_output: float | None = Field(None, ge=0, validation_alias=_env("TEAMBOT_PRICE_PER_1K_OUTPUT"))
    report_cron: str = Field("0 9 * * 1", validation_alias=_env("REPORT_CRON"))
    report_timezone: str = Field("UTC", validation_alias=_env("REPORT_TIMEZONE"))
    report_period: Literal["day", "week", "month"] = Field("week", validation_alias=_env("REPORT_PERIOD"))
    report_slack_channel: str | None = Field(None, validation_alias=_env("REPORT_SLACK_CHANNEL"))
    report_discord_channel: str | None = Field(None, validation_alias=_env("REPORT_DISCORD_CHANNEL"))
    report_grace_minutes: int = Field(
        720, ge=0, le=44640, validation_alias=_env("REPORT_GRACE_MINUTES"),
        description="A report missed while the bot was down is still sent this long after its time.",
    )

    # --- permissions ---------------------------------------------------------------------
    admins: str = Field(
        "", validation_alias=_env("TEAMBOT_ADMINS"),
        description="platform:user_id entries who may manage workspace-wide documents.",
    )
    uploaders: str = Field(
        "*", validation_alias=_env("TEAMBOT_UPLOADERS"),
        description="* (everyone) or platform:user_id / platform:role:ROLE entries who may upload and delete.",
    )

    # --- logging -------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", validation_alias=_env("TEAMBOT_LOG_LEVEL")
    )
    log_format: Literal["json", "text"] = Field("json", validation_alias=_env("TEAMBOT_LOG_FORMAT"))
    log_message_text: bool = Field(
        False, validation_alias=_env("TEAMBOT_LOG_MESSAGE_TEXT"),
        description="Include users' message text in logs (off: only lengths are logged).",
    )

    # --- chat edge: third-party library logs (issue 17) ------------------------------
    log_library_debug: bool = Field(
        False, validation_alias=_env("TEAMBOT_LOG_LIBRARY_DEBUG"),
        description="Let third-party libraries (Slack SDK, discord.py, HTTP clients, openai, Chroma) log at DEBUG; "
                    "their debug lines contain questions, answers and document text.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("openai_base_url", "redis_url", "chroma_host", "embedding_model", "price_per_1k_input",
                     "price_per_1k_output", "answer_similarity_neutral", "report_slack_channel",
                     "report_discord_channel", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_guild_ids")
    @classmethod
    def _guild_ids(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            if not part.isdigit():
                raise ValueError(f"{part!r} is not a numeric guild id")
        return value

    @field_validator("admins", "uploaders")
    @classmethod
    def _principals(cls, value: str) -> str:
        for entry in filter(None, (p.strip() for p in value.split(","))):
            parts = entry.split(":")
            valid = entry == "*" or (len(parts) == 2 and all(parts)) or (
                len(parts) == 3 and parts[1] == "role" and parts[0] and parts[2])
            if not valid:
                raise ValueError(f"{entry!r} is not '*', 'platform:user_id' or 'platform:role:ROLE'")
        return value

    @field_validator("slack_ask_command", "slack_upload_command", "slack_kb_command")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith("/") or len(value) < 2 or " " in value:
            raise ValueError("must be a slash command such as /ask")
        return value

    @field_validator("openai_api_key", "slack_bot_token", "slack_signing_secret", "slack_app_token",
                     "discord_token", "api_token", mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("report_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from bot.reports.cron import cron_trigger  # noqa: PLC0415 - only needed to check the value

        try:
            cron_trigger(value, tz="UTC")
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc})") from None
        return value

    @field_validator("report_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value

    @field_validator("report_discord_channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().isdigit():
            raise ValueError("must be a numeric Discord channel id")
        return value.strip() if value else value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("openai_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    # --- derived -----------------------------------------------------------------------
    def secret_values(self) -> list[str]:
        """Every configured secret, so log output can redact them."""
        secrets = [value for value in vars(self).values() if isinstance(value, SecretStr)]
        return [secret.get_secret_value() for secret in secrets]

    @property
    def model_configured(self) -> bool:
        """A chat model is reachable when a key or a base URL is given."""
        return self.openai_api_key is not None or self.openai_base_url is not None

    @property
    def discord_guild_id_list(self) -> list[int]:
        return [int(p) for p in (p.strip() for p in self.discord_guild_ids.split(",")) if p]

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def discord_enabled(self) -> bool:
        return self.discord_token is not None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)




def prepare_data_dir(settings: Settings) -> Path:
    """Create `TEAMBOT_DATA_DIR` if needed (private: 0700) and check it can be written.

    An unusable one raises `SettingsError` naming the variable and the path.
    """
    path = settings.data_dir
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise SettingsError(f"TEAMBOT_DATA_DIR: {path} exists and is not a directory") from None
    except OSError as exc:
        raise SettingsError(f"TEAMBOT_DATA_DIR: cannot create {path}: {exc.strerror or exc}") from None
    try:
        # Really written, not just os.access(): that says yes to root even where nothing can be created.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise SettingsError(f"TEAMBOT_DATA_DIR: cannot write in {path}: {exc.strerror or exc}") from None
    return path


def _variable_name(field_name: str) -> str:
    field = Settings.model_fields.get(field_name)
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        first = field.validation_alias.choices[0]
        if isinstance(first, str):
            return first
    return field_name.upper()


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and `.env`), turning errors into one line."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        location = first.get("loc") or ("?",)
        name = _variable_name(str(location[0]))
        message = first.get("msg", "invalid value").removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
    if settings.chunk_overlap >= settings.chunk_size:
        raise SettingsError("TEAMBOT_CHUNK_OVERLAP: must be smaller than TEAMBOT_CHUNK_SIZE")
    if settings.max_answer_tokens > settings.model_context_tokens * 3 // 4:
        # At least a quarter of the window must stay for the question, its passages and history.
        raise SettingsError("TEAMBOT_MAX_ANSWER_TOKENS: must be at most 3/4 of TEAMBOT_MODEL_CONTEXT_TOKENS "
                            f"({settings.model_context_tokens}), to leave room for the prompt")
    if settings.report_slack_channel and not settings.slack_enabled:
        raise SettingsError("REPORT_SLACK_CHANNEL: needs SLACK_BOT_TOKEN to post the report")
    if settings.report_discord_channel and not settings.discord_enabled:
        raise SettingsError("REPORT_DISCORD_CHANNEL: needs DISCORD_TOKEN to post the report")
    return settings
