//! `config.toml`: parsed as raw TOML, then validated into typed config with errors that name
//! the offending field; the commented starter file written on first start.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Gemini,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "openai" => ProviderKind::OpenAi,
            "anthropic" => ProviderKind::Anthropic,
            "gemini" => ProviderKind::Gemini,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    pub id: String,
    pub kind: ProviderKind,
    /// Without trailing slash.
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// Extra headers sent upstream (e.g. OpenRouter's `HTTP-Referer`).
    pub headers: BTreeMap<String, String>,
    /// Upstream model names this provider advertises in `/v1/models` besides catalog matches.
    pub models: Vec<String>,
    pub connect_timeout_secs: u64,
    /// Time allowed until the upstream's first byte (long: reasoning models think first).
    pub first_byte_timeout_secs: u64,
    /// Largest gap allowed between two stream chunks.
    pub idle_timeout_secs: u64,
    /// `local = true` / `false`: a server on this machine (free) or not; unset = loopback
    /// base URLs are local.
    pub local: Option<bool>,
    /// Request parameters this provider rejects, dropped before sending (`drop_params`);
    /// `None`: its vendor's default (see `providers::params`).
    pub drop_params: Option<Vec<String>>,
}

/// The authority of a URL after its scheme, and the host name in it (no port, no path):
/// `("api.openai.com:443/v1", "api.openai.com")` for `https://api.openai.com:443/v1`. Without a
/// scheme both are empty. Byte scans only: this runs on the request path.
pub fn url_host(url: &str) -> (&str, &str) {
    let rest = match url.find(':') {
        Some(i) if url[i..].starts_with("://") => &url[i + 3..],
        _ => return ("", ""),
    };
    let end = rest.find(['/', ':']).unwrap_or(rest.len());
    (rest, &rest[..end])
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub max_body_bytes: usize,
    /// Store request and response bodies for `GET /v1/chat/completions/{id}`.
    pub store_content: bool,
    /// Seconds between `: AROUTER PROCESSING` comments while waiting for the first byte.
    pub keepalive_secs: u64,
    /// A connection must deliver a request's headers within this many seconds of opening or
    /// of its first header byte.
    pub header_timeout_secs: u64,
    /// An idle keep-alive connection (no request in flight) closes after this many seconds.
    pub idle_timeout_secs: u64,
    /// A request body that makes no progress for this many seconds fails.
    pub body_timeout_secs: u64,
    /// Open connections at most; beyond it idle connections are closed first and new ones
    /// wait. Kept well under the 256 file descriptors macOS gives a process by default.
    pub max_connections: usize,
    /// Days to keep stored request/response bodies (0 = keep forever).
    pub body_retention_days: u64,
    /// Serve beyond loopback (`--public`): needed to bind a non-loopback address; then every
    /// endpoint but `/healthz` needs a key and the Host guard also takes `allowed_hosts`.
    pub public: bool,
    /// Host names (no port) clients may use besides loopback names, in public mode.
    pub allowed_hosts: Vec<String>,
    /// HTTPS: a PEM certificate chain and its PEM private key (both or neither). A relative
    /// path is from the config file.
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
}

impl ServerConfig {
    /// Refuses to bind a non-loopback address unless public mode is on.
    pub fn check_exposure(&self) -> Result<(), String> {
        if self.public || crate::http::guard::is_loopback_host(&self.host) {
            return Ok(());
        }
        Err(format!(
            "refusing to serve on {} (beyond this machine) without --public (or [server] public = \
             true): public mode needs a key on every endpoint but /healthz and names the allowed \
             Host names in [server] allowed_hosts",
            self.host
        ))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8402,
            max_body_bytes: 32 * 1024 * 1024,
            store_content: true,
            keepalive_secs: 3,
            header_timeout_secs: 30,
            idle_timeout_secs: 120,
            body_timeout_secs: 60,
            max_connections: 100,
            body_retention_days: 30,
            public: false,
            allowed_hosts: Vec::new(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[telemetry]`: who may scrape `/metrics` without a key, and where traces go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TelemetryConfig {
    /// `GET /metrics` answers loopback scrapes without a key (off: an admin key is needed).
    pub metrics_open: bool,
    /// OTLP/HTTP traces endpoint (`http://host:4318/v1/traces`); none: no traces.
    pub otlp_endpoint: Option<String>,
    /// Put prompt and response text on spans (off: only counts, models and ids leave).
    pub otlp_content: bool,
}

/// Per-model overrides of the bundled catalog (USD per million tokens).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOverride {
    pub input_per_mtok: Option<f64>,
    pub output_per_mtok: Option<f64>,
    pub cache_read_per_mtok: Option<f64>,
    pub cache_write_per_mtok: Option<f64>,
    pub context_length: Option<u64>,
    pub max_output_tokens: Option<u32>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub default_model: Option<String>,
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub aliases: BTreeMap<String, Vec<String>>,
    pub models: BTreeMap<String, ModelOverride>,
    /// `wire = "responses"` / `"chat"` of openai-kind providers (key: provider id) and of single
    /// models (key: `provider/model`, which wins): which OpenAI API the upstream is called on.
    pub wire: BTreeMap<String, Wire>,
    /// Prices worked out for this config generation (not part of the file).
    pub pricing_memo: crate::catalog::memo::PricingMemo,
    pub storage: StorageConfig,
    /// `api_key_file` of providers (key: provider id): the credential is read from this file
    /// (mode 0600 required), re-read when it changes. A relative path is from the config file.
    pub key_files: BTreeMap<String, std::path::PathBuf>,
}

/// `[storage]`: where keys and the ledger live.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// `postgres://…`: team mode, several instances share one database. `None` = the embedded
    /// SQLite file in the data dir. `AROUTER_DATABASE_URL` wins over this.
    pub url: Option<String>,
    /// Hold a LISTEN connection for key changes (default). Off behind a transaction-pooling
    /// PgBouncer, where LISTEN does not work: the 500 ms `keys_version` poll alone carries them.
    pub listen: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: None,
            listen: true,
        }
    }
}

/// The environment variable that names the database (wins over `[storage] url`).
pub const DATABASE_URL_ENV: &str = "AROUTER_DATABASE_URL";

impl StorageConfig {
    /// The database URL in force: `AROUTER_DATABASE_URL`, else `[storage] url`; `None` = SQLite.
    pub fn effective_url(&self) -> Option<String> {
        std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.url.clone())
    }
}

/// Which OpenAI API an openai-kind upstream is called on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST /chat/completions` (every OpenAI-compatible server; the default).
    Chat,
    /// `POST /responses` (OpenAI's Responses API; its codex and pro models are served only there).
    Responses,
}

impl Wire {
    fn parse(s: &str, field: &str) -> Result<Wire, ConfigError> {
        match s {
            "chat" => Ok(Wire::Chat),
            "responses" => Ok(Wire::Responses),
            other => Err(err(
                field,
                format!("unknown wire \"{other}\" (expected chat or responses)"),
            )),
        }
    }
}

/// A config error naming the field: `providers.oa.kind: unknown kind "opneai"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// Provider ids that would shadow the router's own paths.
pub const RESERVED_PROVIDER_IDS: &[&str] =
    &["v1", "v1beta", "api", "ui", "healthz", "openapi.yaml"];

impl Config {
    pub fn load(path: &Path) -> Result<Config, anyhow::Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let mut cfg =
            Config::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for p in [&mut cfg.server.tls_cert, &mut cfg.server.tls_key]
            .into_iter()
            .flatten()
        {
            *p = dir.join(&*p);
        }
        Ok(cfg)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err("config.toml", e.message().to_string()))?;
        let mut cfg = Config::default();
        for (key, value) in &root {
            match key.as_str() {
                "default_model" => cfg.default_model = Some(string(value, "default_model")?),
                "server" => cfg.server = server(value)?,
                "storage" => cfg.storage = storage(value)?,
                "telemetry" => cfg.telemetry = telemetry(value)?,
                "providers" => {
                    for (id, p) in table(value, "providers")? {
                        let mut p = p.clone();
                        if let Some(f) = p.as_table_mut().and_then(|t| t.remove("api_key_file")) {
                            let field = format!("providers.{id}.api_key_file");
                            let path = string(&f, &field)?;
                            if path.trim().is_empty() {
                                return Err(err(field, "expected a file path"));
                            }
                            cfg.key_files.insert(id.clone(), path.into());
                        }
                        if let Some(w) = p.as_table_mut().and_then(|t| t.remove("wire")) {
                            let field = format!("providers.{id}.wire");
                            cfg.wire
                                .insert(id.clone(), Wire::parse(&string(&w, &field)?, &field)?);
                        }
                        cfg.providers.insert(id.clone(), provider(id, &p)?);
                    }
                }
                "aliases" => {
                    for (name, list) in table(value, "aliases")? {
                        let field = format!("aliases.{name}");
                        let arr = list
                            .as_array()
                            .ok_or_else(|| err(&field, "expected a list of model ids"))?;
                        let ids = arr
                            .iter()
                            .enumerate()
                            .map(|(i, v)| string(v, &format!("{field}[{i}]")))
                            .collect::<Result<Vec<_>, _>>()?;
                        if ids.is_empty() {
                            return Err(err(field, "an alias needs at least one model id"));
                        }
                        cfg.aliases.insert(name.clone(), ids);
                    }
                }
                "models" => {
                    for (id, m) in table(value, "models")? {
                        let field = format!("models.\"{id}\"");
                        let mut m = m.clone();
                        if let Some(w) = m.as_table_mut().and_then(|t| t.remove("wire")) {
                            let field = format!("{field}.wire");
                            cfg.wire
                                .insert(id.clone(), Wire::parse(&string(&w, &field)?, &field)?);
                            // A table that only sets the wire overrides no price.
                            if m.as_table().is_some_and(|t| t.is_empty()) {
                                continue;
                            }
                        }
                        let o: ModelOverride = m
                            .try_into()
                            .map_err(|e: toml::de::Error| err(&field, e.message().to_string()))?;
                        for (name, v) in [
                            ("input_per_mtok", o.input_per_mtok),
                            ("output_per_mtok", o.output_per_mtok),
                            ("cache_read_per_mtok", o.cache_read_per_mtok),
                            ("cache_write_per_mtok", o.cache_write_per_mtok),
                        ] {
                            if v.is_some_and(|v| !(0.0..=1_000_000.0).contains(&v)) {
                                return Err(err(
                                    format!("{field}.{name}"),
                                    "must be between 0 and 1000000",
                                ));
                            }
                        }
                        cfg.models.insert(id.clone(), o);
                    }
                }
                other => return Err(err(other, "unknown setting")),
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Whether `model` of `provider` is called on OpenAI's Responses API.
    pub fn speaks_responses(&self, provider: &ProviderConfig, model: &str) -> bool {
        if provider.kind != ProviderKind::OpenAi || self.wire.is_empty() {
            return false;
        }
        let per_model = self.wire.iter().find(|(k, _)| {
            k.strip_prefix(provider.id.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                == Some(model)
        });
        match per_model.or_else(|| self.wire.get_key_value(&provider.id)) {
            Some((_, w)) => *w == Wire::Responses,
            None => false,
        }
    }

    /// Cross-field checks: aliases and the default name routable things.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (id, w) in &self.wire {
            let provider = id.split('/').next().unwrap_or_default();
            let kind = self.providers.get(provider).map(|p| p.kind);
            if *w == Wire::Responses && kind.is_some_and(|k| k != ProviderKind::OpenAi) {
                return Err(err(
                    format!("providers.{provider}.wire"),
                    "only openai-kind providers speak the Responses API",
                ));
            }
        }
        for (name, ids) in &self.aliases {
            if name.contains('/') {
                return Err(err(
                    format!("aliases.{name}"),
                    "alias names cannot contain '/'",
                ));
            }
            for (i, id) in ids.iter().enumerate() {
                if !id.contains('/') && !self.aliases.contains_key(id) {
                    return Err(err(
                        format!("aliases.{name}[{i}]"),
                        format!("\"{id}\" is neither a provider/model id nor an alias"),
                    ));
                }
            }
        }
        if let Some(d) = &self.default_model {
            if d.is_empty() || (!d.contains('/') && !self.aliases.contains_key(d)) {
                return Err(err(
                    "default_model",
                    format!("\"{d}\" is neither a provider/model id nor an alias"),
                ));
            }
        }
        Ok(())
    }
}

fn table<'a>(v: &'a toml::Value, field: &str) -> Result<&'a toml::Table, ConfigError> {
    v.as_table().ok_or_else(|| err(field, "expected a table"))
}

fn string(v: &toml::Value, field: &str) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| err(field, "expected a string"))
}

fn integer(v: &toml::Value, field: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
    let n = v
        .as_integer()
        .ok_or_else(|| err(field, "expected an integer"))?;
    if n < min || n > max {
        return Err(err(field, format!("must be between {min} and {max}")));
    }
    Ok(n)
}

fn boolean(v: &toml::Value, field: &str) -> Result<bool, ConfigError> {
    v.as_bool()
        .ok_or_else(|| err(field, "expected true or false"))
}

fn server(v: &toml::Value) -> Result<ServerConfig, ConfigError> {
    let mut s = ServerConfig::default();
    for (key, value) in table(v, "server")? {
        let field = format!("server.{key}");
        match key.as_str() {
            "host" => s.host = string(value, &field)?,
            "port" => s.port = integer(value, &field, 0, 65535)? as u16,
            "max_body_mb" => {
                s.max_body_bytes = integer(value, &field, 1, 4096)? as usize * 1024 * 1024
            }
            "store_content" => s.store_content = boolean(value, &field)?,
            "keepalive_secs" => s.keepalive_secs = integer(value, &field, 1, 600)? as u64,
            "header_timeout_secs" => {
                s.header_timeout_secs = integer(value, &field, 1, 3600)? as u64
            }
            "idle_timeout_secs" => s.idle_timeout_secs = integer(value, &field, 1, 86400)? as u64,
            "body_timeout_secs" => s.body_timeout_secs = integer(value, &field, 1, 3600)? as u64,
            "max_connections" => s.max_connections = integer(value, &field, 1, 100_000)? as usize,
            "body_retention_days" => {
                s.body_retention_days = integer(value, &field, 0, 36500)? as u64
            }
            "public" => s.public = boolean(value, &field)?,
            "allowed_hosts" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| err(&field, "expected a list of host names"))?;
                for (i, v) in list.iter().enumerate() {
                    let h = string(v, &format!("{field}[{i}]"))?
                        .trim()
                        .to_ascii_lowercase();
                    if h.is_empty() || h.contains(['/', ' ', '*']) {
                        return Err(err(
                            format!("{field}[{i}]"),
                            "expected a host name or address without scheme, path or wildcard",
                        ));
                    }
                    s.allowed_hosts.push(h);
                }
            }
            "tls_cert" => s.tls_cert = Some(string(value, &field)?.into()),
            "tls_key" => s.tls_key = Some(string(value, &field)?.into()),
            _ => return Err(err(field, "unknown setting")),
        }
    }
    if s.tls_cert.is_some() != s.tls_key.is_some() {
        return Err(err(
            "server.tls_cert",
            "tls_cert and tls_key go together (a PEM certificate chain and its private key)",
        ));
    }
    Ok(s)
}

fn storage(v: &toml::Value) -> Result<StorageConfig, ConfigError> {
    let mut s = StorageConfig::default();
    for (key, value) in table(v, "storage")? {
        let field = format!("storage.{key}");
        match key.as_str() {
            "url" => {
                let url = string(value, &field)?;
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(err(field, "expected a postgres:// URL"));
                }
                s.url = Some(url);
            }
            "listen" => s.listen = boolean(value, &field)?,
            _ => return Err(err(field, "unknown setting")),
        }
    }
    Ok(s)
}

fn telemetry(v: &toml::Value) -> Result<TelemetryConfig, ConfigError> {
    let mut t = TelemetryConfig::default();
    for (key, value) in table(v, "telemetry")? {
        let field = format!("telemetry.{key}");
        match key.as_str() {
            "metrics_open" => t.metrics_open = boolean(value, &field)?,
            "otlp_endpoint" => {
                let u = string(value, &field)?;
                if !u.starts_with("http://") && !u.starts_with("https://") {
                    return Err(err(&field, format!("\"{u}\" is not an http(s) URL")));
                }
                t.otlp_endpoint = Some(u);
            }
            "otlp_content" => t.otlp_content = boolean(value, &field)?,
            _ => return Err(err(field, "unknown setting")),
        }
    }
    Ok(t)
}

fn provider(id: &str, v: &toml::Value) -> Result<ProviderConfig, ConfigError> {
    let base = format!("providers.{id}");
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(err(
            &base,
            "provider ids may use only letters, digits, '-', '_' and '.'",
        ));
    }
    if RESERVED_PROVIDER_IDS.contains(&id) {
        return Err(err(
            &base,
            format!("\"{id}\" is reserved for the router's own paths"),
        ));
    }
    let t = table(v, &base)?;
    let mut kind = None;
    let mut base_url = None;
    let mut p = ProviderConfig {
        id: id.to_string(),
        kind: ProviderKind::OpenAi,
        base_url: String::new(),
        api_key_env: None,
        headers: BTreeMap::new(),
        models: Vec::new(),
        connect_timeout_secs: 10,
        first_byte_timeout_secs: 600,
        idle_timeout_secs: 300,
        local: None,
        drop_params: None,
    };
    for (key, value) in t {
        let field = format!("{base}.{key}");
        match key.as_str() {
            "kind" => {
                let k = string(value, &field)?;
                kind = Some(ProviderKind::parse(&k).ok_or_else(|| {
                    err(&field, format!("unknown kind \"{k}\" (expected openai, anthropic or gemini)"))
                })?);
            }
            "base_url" => {
                let u = string(value, &field)?;
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(err(&field, format!("\"{u}\" is not an http(s) URL")));
                }
                base_url = Some(u.trim_end_matches('/').to_string());
            }
            "api_key_env" => p.api_key_env = Some(string(value, &field)?),
            "api_key" => {
                return Err(err(
                    &field,
                    "keys do not belong in config.toml: use `arouter providers set-key` (OS keychain) or api_key_env",
                ))
            }
            "headers" => {
                for (h, hv) in table(value, &field)? {
                    p.headers.insert(h.clone(), string(hv, &format!("{field}.{h}"))?);
                }
            }
            "models" => {
                let arr = value.as_array().ok_or_else(|| err(&field, "expected a list"))?;
                for (i, m) in arr.iter().enumerate() {
                    p.models.push(string(m, &format!("{field}[{i}]"))?);
                }
            }
            "drop_params" => {
                let arr = value.as_array().ok_or_else(|| err(&field, "expected a list"))?;
                let mut list = Vec::with_capacity(arr.len());
                for (i, m) in arr.iter().enumerate() {
                    list.push(string(m, &format!("{field}[{i}]"))?);
                }
                p.drop_params = Some(list);
            }
            "connect_timeout_secs" => {
                p.connect_timeout_secs = integer(value, &field, 1, 3600)? as u64
            }
            "first_byte_timeout_secs" => {
                p.first_byte_timeout_secs = integer(value, &field, 1, 36000)? as u64
            }
            "idle_timeout_secs" => p.idle_timeout_secs = integer(value, &field, 1, 36000)? as u64,
            "local" => {
                p.local = Some(
                    value
                        .as_bool()
                        .ok_or_else(|| err(&field, "expected true or false"))?,
                )
            }
            _ => return Err(err(field, "unknown setting")),
        }
    }
    p.kind = kind.ok_or_else(|| {
        err(
            format!("{base}.kind"),
            "missing (openai, anthropic or gemini)",
        )
    })?;
    p.base_url = base_url.ok_or_else(|| err(format!("{base}.base_url"), "missing"))?;
    Ok(p)
}

/// The commented config written on first start.
pub const STARTER_CONFIG: &str = r#"# ARouter configuration. Edit freely: the running router picks changes up.
# Provider API keys never go here: run `arouter providers set-key ID` (stored in the OS
# keychain), name an environment variable with api_key_env, or (servers) a 0600 file with
# api_key_file.

# Used when a request names no model; may be an alias.
default_model = "openai/gpt-4o-mini"

[server]
host = "127.0.0.1"
port = 8402
# max_body_mb = 32          # larger request bodies get 413
# store_content = true      # keep request/response bodies for GET /v1/chat/completions/{id}
# body_retention_days = 30  # stored bodies older than this are purged (0 = keep)
# header_timeout_secs = 30  # a request's headers must arrive within this
# idle_timeout_secs = 120   # idle keep-alive connections close after this
# body_timeout_secs = 60    # a request body stalled this long fails (streams out are never cut)
# max_connections = 100     # open connections at most (macOS allows a process 256 files)
# public = false            # serve beyond loopback (--public): a key on every endpoint
# allowed_hosts = []        # Host names accepted besides loopback ones, in public mode
# tls_cert = "cert.pem"     # HTTPS: PEM certificate chain and private key (both or neither)
# tls_key = "key.pem"

# Team mode: several ARouter servers share keys, rate limits and one ledger in PostgreSQL
# (AROUTER_DATABASE_URL wins). Absent = the embedded SQLite file in the data dir.
# [storage]
# url = "postgres://arouter:PASSWORD@db.internal:5432/arouter"
#   TLS: append ?sslmode=require (always verified; sslrootcert=/path/ca.pem for a private CA)
# listen = true             # false behind a transaction-pooling PgBouncer (polls instead)

# The table key is the provider id: the prefix of model ids ("openai/gpt-4o-mini").
[providers.openai]
kind = "openai"                          # openai | anthropic | gemini
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
# api.openai.com is called on Chat Completions (POST /chat/completions) by default; set
# wire = "responses" here to call every model on the Responses API (POST /responses), or per
# model as below. Requests to /v1/responses reach a Responses upstream unchanged; any other
# caller (or a Chat-only upstream) is translated.
# wire = "chat"

# OpenAI serves its codex and pro models only on the Responses API.
[models."openai/gpt-5-codex"]
wire = "responses"
[models."openai/gpt-5-pro"]
wire = "responses"

# [providers.anthropic]
# kind = "anthropic"
# base_url = "https://api.anthropic.com"
# api_key_env = "ANTHROPIC_API_KEY"

# [providers.gemini]
# kind = "gemini"
# base_url = "https://generativelanguage.googleapis.com"
# api_key_env = "GEMINI_API_KEY"

# A local Ollama (no key needed). Loopback servers are free; a server elsewhere on your own
# network can say so with `local = true`.
[providers.ollama]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"

# Named, ordered fallback lists, usable wherever a model id is.
[aliases]
# fast = ["groq/llama-3.3-70b-versatile", "openai/gpt-4o-mini"]

# Per-model overrides of the bundled price catalog (USD per million tokens).
# [models."ollama/llama3.2"]
# input_per_mtok = 0.0
# output_per_mtok = 0.0
# context_length = 131072
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_url_is_parsed_and_checked() {
        let c = Config::parse("[storage]\nurl = \"postgres://u:p@db/arouter\"\n").unwrap();
        assert_eq!(c.storage.url.as_deref(), Some("postgres://u:p@db/arouter"));
        assert!(Config::parse("").unwrap().storage.url.is_none());
        let e = Config::parse("[storage]\nurl = \"mysql://db\"\n").unwrap_err();
        assert_eq!(e.field, "storage.url");
        let e = Config::parse("[storage]\npool = 3\n").unwrap_err();
        assert_eq!(e.field, "storage.pool");
        // The starter config's commented [storage] example stays valid once uncommented.
        assert!(STARTER_CONFIG.contains("# [storage]"));
    }

    #[test]
    fn starter_config_is_valid() {
        let c = Config::parse(STARTER_CONFIG).unwrap();
        assert_eq!(c.providers["openai"].kind, ProviderKind::OpenAi);
        assert_eq!(c.server.port, 8402);
    }

    #[test]
    fn errors_name_the_field() {
        let e = Config::parse("[providers.oa]\nkind = \"opneai\"\nbase_url = \"http://x\"\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "providers.oa.kind: unknown kind \"opneai\" (expected openai, anthropic or gemini)"
        );
        let e = Config::parse("[server]\nport = 70000\n").unwrap_err();
        assert_eq!(e.field, "server.port");
        let e =
            Config::parse("[providers.v1]\nkind=\"openai\"\nbase_url=\"http://x\"\n").unwrap_err();
        assert_eq!(e.field, "providers.v1");
        let e = Config::parse("default_model = \"nope\"\n").unwrap_err();
        assert_eq!(e.field, "default_model");
        let e = Config::parse(
            "[providers.a]\nkind=\"openai\"\nbase_url=\"http://x\"\napi_key=\"sk\"\n",
        )
        .unwrap_err();
        assert_eq!(e.field, "providers.a.api_key");
    }
}
