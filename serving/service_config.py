"""What ``churnclv serve`` hands to the service process, written and read in one place.

BentoML starts the service in worker processes of its own, so the configuration travels as
environment variables; this module is the only code that names or reads them:

* ``CHURNCLV_CONFIG``: the settings file (default settings without it);
* ``CHURNCLV_MODEL_TAG``: the BentoML model to load (default ``churnclv:latest``);
* ``CHURNCLV_SCORES``: the output folder whose last score run the service answers from
  (default the settings' ``output_dir``);
* ``CHURNCLV_API_KEYS`` (comma-separated, set by the user) and ``CHURNCLV_API_KEYS_FILE``
  (one key per line, ``#`` comments; also settings ``serving.api_keys_file``);
* ``CHURNCLV_INSECURE_LOCAL=1``: no key needed (``--insecure-local``, a local trial).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.catalog import OutputCatalog
from core.errors import UserError
from core.settings import Settings, load_settings

CONFIG_ENV = "CHURNCLV_CONFIG"
MODEL_TAG_ENV = "CHURNCLV_MODEL_TAG"
SCORES_ENV = "CHURNCLV_SCORES"
KEYS_ENV = "CHURNCLV_API_KEYS"
KEYS_FILE_ENV = "CHURNCLV_API_KEYS_FILE"
INSECURE_ENV = "CHURNCLV_INSECURE_LOCAL"
DEFAULT_MODEL_TAG = "churnclv:latest"


class NoApiKeyError(UserError, RuntimeError):
    """No API key is configured and insecure local mode was not asked for."""


@dataclass(frozen=True)
class ServiceConfig:
    """The service's configuration: settings file, model, scores folder, API keys."""

    config_path: Path | None = None
    model_tag: str = DEFAULT_MODEL_TAG
    scores_dir: Path | None = None
    api_keys_file: Path | None = None
    insecure_local: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        """Read what :meth:`to_env` wrote (in the service process)."""
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(
            config_path=path(CONFIG_ENV),
            model_tag=env.get(MODEL_TAG_ENV) or DEFAULT_MODEL_TAG,
            scores_dir=path(SCORES_ENV),
            api_keys_file=path(KEYS_FILE_ENV),
            insecure_local=env.get(INSECURE_ENV) == "1",
        )

    def to_env(self) -> dict[str, str]:
        """The variables that carry this configuration to the service process."""
        env = {MODEL_TAG_ENV: self.model_tag, INSECURE_ENV: "1" if self.insecure_local else "0"}
        for name, value in (
            (CONFIG_ENV, self.config_path),
            (SCORES_ENV, self.scores_dir),
            (KEYS_FILE_ENV, self.api_keys_file),
        ):
            if value is not None:
                env[name] = str(Path(value).resolve())
        return env

    def settings(self) -> Settings:
        """The settings file's settings (defaults without one)."""
        return load_settings(self.config_path)

    def catalog(self, settings: Settings) -> OutputCatalog:
        """The output folder the service answers from."""
        return OutputCatalog(self.scores_dir or settings.output_dir)

    def api_keys(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Keys from CHURNCLV_API_KEYS and the key file; at least one unless insecure local.

        Raises NoApiKeyError (one line: what to set) when there is none, or the file cannot
        be read.
        """
        env = os.environ if environ is None else environ
        keys = [k.strip() for k in env.get(KEYS_ENV, "").split(",") if k.strip()]
        if self.api_keys_file is not None:
            try:
                lines = Path(self.api_keys_file).read_text().splitlines()
            except OSError as exc:
                raise NoApiKeyError(
                    f"cannot read API key file {self.api_keys_file}: {exc.strerror}"
                ) from exc
            keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if not keys and not self.insecure_local:
            raise NoApiKeyError(
                f"no API key configured: set {KEYS_ENV} (comma-separated) or serving."
                "api_keys_file in the config; or pass --insecure-local for a trial on this "
                "machine"
            )
        return keys
