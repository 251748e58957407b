//! The `ciphub` binary: parses the command line, wires the store and the server, and runs.

#![forbid(unsafe_code)]

mod bench;
mod cli;
mod config;
mod demo;
mod exercise;
mod interop;
mod report;
mod severity;

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use ciphub_domain::Slug;
use ciphub_domain::identity::{Password, Role, UserName};
use ciphub_domain::registry::{Profile, shipped_profile};
use ciphub_store::{By, NewUser, Store, StoreOptions, SystemClock};
use clap::Parser;

use crate::cli::{
    AuditCommand, BenchCommand, Cli, Command, DbArgs, LogFormat, ReportCommand, SeverityCommand,
    TokenCommand, UserCommand,
};
use crate::config::FileConfig;

/// mimalloc rather than the system allocator: a server that parses and builds JSON all day
/// allocates small blocks from several threads, where glibc's allocator spends a third of the
/// time of a TAXII POST (measured; see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the data lives when nothing says otherwise.
const DEFAULT_DATA_DIR: &str = "ciphub-data";
/// Where `serve --demo` keeps its data when nothing says otherwise.
const DEMO_DATA_DIR: &str = "ciphub-demo-data";
/// The profile loaded into an empty registry by default.
const DEFAULT_PROFILE: &str = "jp-cip-4";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match FileConfig::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(
        cli.log_format
            .or(file.log_format)
            .unwrap_or(LogFormat::Text),
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, file)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CIPHUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colour codes only for a person at a terminal: in a file or a pipe they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open(file: &FileConfig, db: &DbArgs, fallback_dir: &str) -> anyhow::Result<Store> {
    let url = file.database_url(db, Path::new(fallback_dir))?;
    let mut options = StoreOptions::default();
    if let Some(n) = file.max_connections {
        options.max_connections = n;
    }
    let store = Store::connect_with(&url, options, Arc::new(SystemClock)).await?;
    store.migrate().await?;
    Ok(store)
}

/// The store the flags or `CIPHUB_*` variables name, if they name one: the exercise commands
/// read a registry only when asked to, and never create a store.
async fn open_if_named(file: &FileConfig, db: &DbArgs) -> anyhow::Result<Option<Store>> {
    if db.data_dir.is_some() || db.database_url.is_some() {
        Ok(Some(open(file, db, DEFAULT_DATA_DIR).await?))
    } else {
        Ok(None)
    }
}

/// A shipped profile by id, or a profile file by path.
fn load_profile(name: &str) -> anyhow::Result<Profile> {
    if let Some(p) = shipped_profile(name) {
        return p.with_context(|| format!("shipped profile {name} is invalid"));
    }
    let path = Path::new(name);
    if !path.exists() {
        bail!("no profile {name:?}: use jp-cip-4, eu-nis2 or a path to a profile .toml file");
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Profile::from_toml(&text).with_context(|| format!("profile {} is not valid", path.display()))
}

async fn run(command: Command, file: FileConfig) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init { db, profile } => {
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            let name = profile
                .or(file.profile.clone())
                .unwrap_or_else(|| DEFAULT_PROFILE.into());
            let profile = load_profile(&name)?;
            let report = store.apply_profile(&profile, &By::system()).await?;
            // The instance's own namespace for STIX ids is made now, once.
            store.stix_id_space().await?;
            println!(
                "initialized {} store with profile {}: {} added, {} updated, {} unchanged",
                store.backend().as_str(),
                profile.id,
                report.added,
                report.updated,
                report.unchanged
            );
        }
        Command::Migrate { db } => {
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            println!(
                "{} store is migrated to this version",
                store.backend().as_str()
            );
        }
        Command::Serve {
            db,
            listen,
            demo,
            demo_scale,
        } => {
            let fallback = if demo {
                DEMO_DATA_DIR
            } else {
                DEFAULT_DATA_DIR
            };
            let store = open(&file, &db, fallback).await?;
            if store.list_sectors().await?.is_empty() {
                let name = file
                    .profile
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PROFILE.into());
                let profile = load_profile(&name)?;
                store.apply_profile(&profile, &By::system()).await?;
                tracing::info!(profile = %profile.id, "loaded the profile into the empty registry");
            }
            let listen = listen
                .or(file.listen)
                .unwrap_or_else(|| ([127, 0, 0, 1], 8750).into());
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            let base = format!("http://{addr}");
            if demo {
                let logins = demo::seed(&store, demo_scale).await?;
                demo::print_logins(&base, &logins);
            }
            let state = ciphub_server::AppState::try_new(store.clone(), file.server()?)
                .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
            println!(
                "ciphub is serving on {base} ({} store); stop it with Ctrl-C",
                store.backend().as_str()
            );
            tracing::info!(%addr, backend = store.backend().as_str(), "serving");
            ciphub_server::serve(listener, state, shutdown_signal()).await?;
            store.close().await;
            tracing::info!("stopped");
        }
        Command::User(UserCommand::Add {
            db,
            org,
            name,
            roles,
            display_name,
            password_stdin,
        }) => {
            let org = Slug::parse(&org).map_err(|e| anyhow!("--org: {e}"))?;
            let name = UserName::parse(&name).map_err(|e| anyhow!("--name: {e}"))?;
            let roles = roles
                .iter()
                .map(|r| r.trim().parse::<Role>())
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow!("--role: {e}"))?;
            let password_hash = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                let password = Password::new(line.trim_end_matches(['\r', '\n']).to_owned())
                    .map_err(|e| anyhow!("password: {e}"))?;
                Some(ciphub_server::hash_password(password.expose()).map_err(|e| anyhow!("{e}"))?)
            } else {
                None
            };
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            let new = NewUser {
                org,
                display_name: display_name.unwrap_or_else(|| name.to_string()),
                name,
                roles,
                password_hash,
            };
            let user = store.create_user(&new, &By::system()).await?;
            println!(
                "added user {} to {} with roles {}",
                user.name,
                user.org,
                roles_text(&user.roles)
            );
        }
        Command::User(UserCommand::List { db, org }) => {
            let org = org
                .map(|o| Slug::parse(&o))
                .transpose()
                .map_err(|e| anyhow!("--org: {e}"))?;
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            for u in store.list_users(org.as_ref()).await? {
                let state = if u.disabled { " (disabled)" } else { "" };
                println!("{}\t{}\t{}{state}", u.name, u.org, roles_text(&u.roles));
            }
        }
        Command::Token(TokenCommand::Issue {
            db,
            user,
            expires,
            label,
        }) => {
            let user = UserName::parse(&user).map_err(|e| anyhow!("--user: {e}"))?;
            let max = ciphub_server::ServerConfig::default().max_token_lifetime;
            let lifetime = ciphub_server::parse_token_lifetime(expires.as_deref(), max)
                .map_err(|e| anyhow!("--expires: {e}"))?;
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            let token =
                ciphub_server::issue_token(&store, &user, &label, lifetime, &By::system()).await?;
            println!("{token}");
        }
        Command::Token(TokenCommand::List { db, user }) => {
            let user = user
                .map(|u| UserName::parse(&u))
                .transpose()
                .map_err(|e| anyhow!("--user: {e}"))?;
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            let tokens = match &user {
                Some(name) => {
                    // Names a user who does not exist, rather than listing nothing.
                    store.get_user(name.as_str()).await?;
                    store.list_tokens(name).await?
                }
                None => store.list_all_tokens().await?,
            };
            print!("{}", tokens_text(&tokens, chrono::Utc::now()));
        }
        Command::Token(TokenCommand::Revoke { db, id }) => {
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            let t = store.revoke_token(id, &By::system()).await?;
            eprintln!("token {} of {} is revoked", t.id, t.user);
        }
        Command::Audit(AuditCommand::Verify { db }) => {
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            match store.audit_verify().await? {
                Ok(n) => println!("audit chain intact: {n} entries"),
                Err(broken) => {
                    println!("{broken}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Report(ReportCommand::Submit {
            file,
            url,
            token,
            json,
        }) => return report::submit(&file, &url, &token, json).await,
        Command::Severity(SeverityCommand::Assess { schema, file, json }) => {
            severity::assess(&schema, &file, json)?;
        }
        Command::Severity(SeverityCommand::Show { schema }) => severity::show(&schema)?,
        Command::Exercise(cli::ExerciseCommand::List) => exercise::list(),
        Command::Exercise(cli::ExerciseCommand::Check { files, db }) => {
            let store = open_if_named(&file, &db).await?;
            if !exercise::check(&files, store.as_ref()).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Exercise(cli::ExerciseCommand::Plan {
            file: scenario,
            speed,
            lang,
            db,
        }) => {
            let store = open_if_named(&file, &db).await?;
            exercise::plan(&scenario, speed, &lang, store.as_ref()).await?;
        }
        Command::Exercise(cli::ExerciseCommand::Simulate {
            file: scenario,
            seed,
            db,
        }) => {
            let store = open_if_named(&file, &db).await?;
            exercise::simulate(&scenario, seed, store.as_ref()).await?;
        }
        Command::Exercise(cli::ExerciseCommand::Run {
            file: scenario,
            speed,
            simulate,
            seed,
            start_in,
            owner,
            json,
            db,
        }) => {
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            let options = exercise::RunOptions {
                speed,
                simulate,
                seed,
                start_in,
                owner,
                json,
                email: file.server()?.mail.is_some(),
            };
            exercise::run(&scenario, &store, &options).await?;
        }
        Command::Federate(cmd) => {
            let db = match &cmd {
                cli::FederateCommand::Add { db, .. }
                | cli::FederateCommand::List { db }
                | cli::FederateCommand::Remove { db, .. }
                | cli::FederateCommand::Run { db } => db.clone(),
            };
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            interop::federate(store, file.server()?, cmd).await?;
        }
        Command::Misp(cmd) => {
            let db = match &cmd {
                cli::MispCommand::Import { db, .. } | cli::MispCommand::Export { db, .. } => {
                    db.clone()
                }
            };
            let store = open(&file, &db, DEFAULT_DATA_DIR).await?;
            interop::misp(store, file.server()?, cmd).await?;
        }
        Command::Bench(BenchCommand::Audit {
            entries,
            database_url,
            runs,
        }) => bench::audit(entries, database_url, runs).await?,
        Command::Bench(BenchCommand::Taxii {
            objects,
            envelope,
            page,
            rounds,
            big,
            samples,
            medallion,
            python,
            database_url,
        }) => {
            bench::taxii::run(bench::taxii::TaxiiLoad {
                objects,
                envelope,
                page,
                rounds,
                big,
                samples,
                medallion,
                python,
                database_url,
            })
            .await?
        }
        Command::Bench(BenchCommand::Load {
            rate,
            duration,
            database_url,
        }) => bench::load::load(rate, duration, database_url).await?,
        Command::Bench(BenchCommand::Exercise {
            participants,
            rounds,
            database_url,
        }) => {
            bench::exercise(participants, rounds)?;
            bench::exercise_store(participants, rounds, database_url).await?;
        }
        Command::Bench(BenchCommand::Correlation {
            values,
            objects,
            database_url,
        }) => bench::correlation(values, objects, database_url).await?,
        Command::Bench(BenchCommand::Pages {
            rounds,
            reports,
            alerts,
            database_url,
        }) => bench::pages(rounds, reports, alerts, database_url).await?,
        Command::Bench(BenchCommand::Alerts {
            clients,
            database_url,
        }) => bench::alerts(clients, database_url).await?,
        Command::Bench(BenchCommand::Reports {
            reporters,
            duration,
            interval,
            bursts,
            database_url,
        }) => {
            bench::reports(bench::ReportLoad {
                reporters,
                duration,
                interval,
                bursts,
                database_url,
            })
            .await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines of `token list`: a header, then one tab-separated line per token. Neither the
/// token nor its hash is in the store's record, so neither can be printed.
fn tokens_text(tokens: &[ciphub_store::TokenRecord], now: chrono::DateTime<chrono::Utc>) -> String {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "-".into())
    };
    let mut out = String::from("id\tuser\tlabel\tcreated\texpires\tlast_used\tstate\n");
    for t in tokens {
        let state = if t.revoked.is_some() {
            "revoked"
        } else if t.expires.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{state}\n",
            t.id,
            t.user,
            t.label,
            time(Some(t.created)),
            time(t.expires),
            time(t.last_used)
        ));
    }
    out
}

fn roles_text(roles: &ciphub_domain::identity::Roles) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
