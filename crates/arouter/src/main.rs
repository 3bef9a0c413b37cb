//! `arouter`: the headless LLM router and its command line (serve, keys, providers, models,
//! usage, connect). Every command works while a server runs on the same data dir.

mod commands;

/// mimalloc instead of glibc malloc: the request path allocates and frees small buffers from
/// two runtime threads and the ledger thread, where glibc's arena locks and consolidation
/// showed up as 15–17% of the router's CPU under load (see BENCHMARKS.md). Built with `no_thp`:
/// mimalloc's eagerly committed arenas otherwise fault in 2 MiB transparent huge pages, which
/// nearly doubled idle RSS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "arouter",
    version,
    about = "A local LLM router: one base URL for every AI tool"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the data lives; accepted by every command.
#[derive(Args, Clone)]
struct Location {
    /// Data directory (config.toml, arouter.db)
    #[arg(long, env = "AROUTER_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Config file (default: config.toml in the data dir)
    #[arg(long, env = "AROUTER_CONFIG", global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router
    Serve {
        #[arg(long, env = "AROUTER_HOST")]
        host: Option<String>,
        #[arg(long, env = "AROUTER_PORT")]
        port: Option<u16>,
        /// Serve beyond loopback: every endpoint but /healthz then needs a key, and the Host
        /// header must be a loopback name or in [server] allowed_hosts
        #[arg(long)]
        public: bool,
        #[command(flatten)]
        loc: Location,
    },
    /// Manage API keys
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
        #[command(flatten)]
        loc: Location,
    },
    /// Configured providers and their credentials
    Providers {
        #[command(subcommand)]
        cmd: ProvidersCmd,
        #[command(flatten)]
        loc: Location,
    },
    /// The model ids that are routable now, with prices ("unpriced" when unknown)
    Models {
        #[command(subcommand)]
        cmd: Option<ModelsCmd>,
        #[command(flatten)]
        loc: Location,
    },
    /// The credits ledger (what you paid providers), for balance and transactions
    Credits {
        #[command(subcommand)]
        cmd: CreditsCmd,
        #[command(flatten)]
        loc: Location,
    },
    /// Requests, tokens and cost
    Usage {
        /// How far back: 30m, 24h, 7d, 4w
        #[arg(long, default_value = "7d")]
        since: String,
        /// Group by app, model, provider, key or day
        #[arg(long, default_value = "app")]
        by: String,
        #[command(flatten)]
        loc: Location,
    },
    /// Point an agent CLI at ARouter with its own app key (merges into the tool's config)
    Connect {
        /// claude-code, codex, gemini-cli, opencode, aider or continue
        tool: String,
        #[command(flatten)]
        opts: commands::ConnectArgs,
        #[command(flatten)]
        loc: Location,
    },
    /// Undo `connect`: the tool's files come back as they were, its key is revoked
    Disconnect {
        tool: String,
        #[command(flatten)]
        loc: Location,
    },
    /// Known tools: installed, connected (with which key), last request, today's spend
    Tools {
        #[command(flatten)]
        loc: Location,
    },
    /// Copy the embedded SQLite history (keys, ledger, stored bodies, credits, batches) into
    /// an empty PostgreSQL database for team mode, and check the figures agree
    Migrate {
        /// postgres://user:password@host:port/database
        #[arg(long)]
        to: String,
        #[command(flatten)]
        loc: Location,
    },
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// Ask every configured provider for its model list and prices now (kept in the data dir)
    Refresh,
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Create a key; prints it alone on the last line
    Create {
        #[arg(long)]
        name: String,
        /// A management key (can use /api/v1/* admin endpoints)
        #[arg(long)]
        admin: bool,
        /// Requests per minute (a positive integer; default: unlimited)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        rpm: Option<u32>,
        /// Budget in USD (the API's `limit`; default: unlimited)
        #[arg(
            long,
            alias = "budget",
            value_name = "USD",
            allow_negative_numbers = true
        )]
        limit_usd: Option<f64>,
        /// When the budget starts over (UTC); without it the limit never resets
        #[arg(long, value_parser = ["daily", "weekly", "monthly"])]
        limit_reset: Option<String>,
        /// May use the provider proxy (`/{provider}/…`). Default: yes without a budget, no with
        /// one (a budgeted key still cannot spend on unpriced models there)
        #[arg(long, overrides_with = "no_proxy")]
        proxy: bool,
        /// May not use the provider proxy
        #[arg(long, overrides_with = "proxy")]
        no_proxy: bool,
    },
    /// List keys (never the secret)
    List,
    /// Disable a key by name or hash
    Revoke { name: String },
}

#[derive(Subcommand)]
enum CreditsCmd {
    /// Record a credit of USD (e.g. a top-up at a provider)
    Add {
        /// Amount in USD
        usd: f64,
        /// What the credit is for
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
enum ProvidersCmd {
    /// Configured providers and whether each has a credential
    List,
    /// Read a provider's API key from stdin into the OS keychain
    SetKey { id: String },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve {
            host,
            port,
            public,
            loc,
        } => commands::serve(loc.data_dir, loc.config, host, port, public),
        Command::Keys { cmd, loc } => {
            let ctx = commands::Ctx::open(loc.data_dir, loc.config);
            ctx.and_then(|c| match cmd {
                KeysCmd::Create {
                    name,
                    admin,
                    rpm,
                    limit_usd,
                    limit_reset,
                    proxy,
                    no_proxy,
                } => c.keys_create(commands::NewKey {
                    name: &name,
                    admin,
                    rpm,
                    limit_usd,
                    limit_reset: limit_reset.as_deref(),
                    proxy: match (proxy, no_proxy) {
                        (true, _) => Some(true),
                        (_, true) => Some(false),
                        _ => None,
                    },
                }),
                KeysCmd::List => c.keys_list(),
                KeysCmd::Revoke { name } => c.keys_revoke(&name),
            })
        }
        Command::Providers { cmd, loc } => {
            let ctx = commands::Ctx::open(loc.data_dir, loc.config);
            ctx.and_then(|c| match cmd {
                ProvidersCmd::List => c.providers_list(),
                ProvidersCmd::SetKey { id } => c.providers_set_key(&id),
            })
        }
        Command::Models { cmd, loc } => {
            commands::Ctx::open(loc.data_dir, loc.config).and_then(|c| match cmd {
                None => c.models(),
                Some(ModelsCmd::Refresh) => c.models_refresh(),
            })
        }
        Command::Credits { cmd, loc } => {
            commands::Ctx::open(loc.data_dir, loc.config).and_then(|c| match cmd {
                CreditsCmd::Add { usd, note } => c.credits_add(usd, note.as_deref()),
            })
        }
        Command::Usage { since, by, loc } => {
            commands::Ctx::open(loc.data_dir, loc.config).and_then(|c| c.usage(&since, &by))
        }
        Command::Connect { tool, opts, loc } => {
            commands::Ctx::open(loc.data_dir, loc.config).and_then(|c| c.connect(&tool, opts))
        }
        Command::Disconnect { tool, loc } => {
            commands::Ctx::open(loc.data_dir, loc.config).and_then(|c| c.disconnect(&tool))
        }
        Command::Tools { loc } => {
            commands::Ctx::open(loc.data_dir, loc.config).and_then(|c| c.tools())
        }
        Command::Migrate { to, loc } => commands::migrate(loc.data_dir, loc.config, &to),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
