//! The command line, as clap parses it. `config.rs` turns these raw arguments into settings.

use std::net::SocketAddr;
use std::path::PathBuf;

use ciphub_domain::identity::Role;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// ciphub: information sharing for critical-infrastructure protection.
///
/// Runs the community registry, incident reporting, alerts and the audit trail for a national
/// CIP system. The data lives in SQLite (a file in the data directory, the default) or in
/// PostgreSQL (--database-url postgres://...).
///
/// Quick start:  ciphub serve --demo
#[derive(Parser, Debug)]
#[command(name = "ciphub", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// A TOML configuration file (see README); flags and CIPHUB_* variables override it.
    #[arg(long, global = true, env = "CIPHUB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format: text for people, json for log collectors.
    #[arg(long, global = true, env = "CIPHUB_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the data lives. Give at most one; without either, ./ciphub-data is used.
#[derive(Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// Directory of the embedded SQLite store (created if missing).
    #[arg(
        long,
        env = "CIPHUB_DATA_DIR",
        value_name = "DIR",
        conflicts_with = "database_url"
    )]
    pub data_dir: Option<PathBuf>,

    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, env = "CIPHUB_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the database, run migrations and load a jurisdiction profile.
    Init {
        #[command(flatten)]
        db: DbArgs,
        /// The profile to load: jp-cip-4 (Japan, the default), eu-nis2, or a path to a .toml file.
        #[arg(long, value_name = "PROFILE")]
        profile: Option<String>,
    },
    /// Run the web server.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// Address to listen on.
        #[arg(long, env = "CIPHUB_LISTEN", value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Load demo organizations and users (and a data directory, ./ciphub-demo-data, if none
        /// is given), then print how to log in.
        #[arg(long)]
        demo: bool,
        /// How many demo operators: small (3 per CEPTOAR) or full (one per published member:
        /// 4,245 with the jp-cip-4 profile).
        #[arg(long, value_enum, default_value = "small", requires = "demo")]
        demo_scale: DemoScale,
    },
    /// Run the database migrations this version has and the database lacks.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// File reports to a running ciphub over its API (for operators' automation).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Assess severity with a schema (no database needed).
    #[command(subcommand)]
    Severity(SeverityCommand),
    /// Cross-sectoral exercise scenarios: check a scenario file, list the shipped library,
    /// and show the dry run of one (every inject, when and to whom).
    #[command(subcommand)]
    Exercise(ExerciseCommand),
    /// Link collections with other TAXII 2.1 servers (ciphub, medallion, OpenCTI...).
    #[command(subcommand)]
    Federate(FederateCommand),
    /// Import MISP feeds and publish ciphub's shareable data as one.
    #[command(subcommand)]
    Misp(MispCommand),
    /// Measure ciphub on this machine (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// The help of `user add --role`, made from the domain's list of roles so that it names every
/// role there is.
fn role_help() -> String {
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    format!(
        "A role: {}. Repeat the flag or separate with commas for several.",
        roles.join(", ")
    )
}

/// Demo data sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DemoScale {
    Small,
    Full,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user to an organization.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// The organization's slug (see GET /api/v1/organizations).
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// Login name: 2 to 64 of a-z, 0-9, '.', '_', '-'.
        #[arg(long, value_name = "NAME")]
        name: String,
        #[arg(
            long = "role",
            value_name = "ROLE",
            required = true,
            value_delimiter = ',',
            help = role_help()
        )]
        roles: Vec<String>,
        /// A display name (default: the login name).
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// Read a password (at least 12 characters) from the first line of standard input.
        /// Without it the user can only use API tokens.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Only this organization's users.
        #[arg(long, value_name = "SLUG")]
        org: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue an API token for a user; prints only the token on standard output.
    Issue {
        #[command(flatten)]
        db: DbArgs,
        /// The user's login name.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// Lifetime, such as 30d, 12h or 1y (default 90d; at most 366d).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// What the token is for.
        #[arg(long, value_name = "TEXT", default_value = "cli")]
        label: String,
    },
    /// List API tokens: id, user, label, created, expires, last used and state (never the
    /// token or its hash).
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Only this user's tokens.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Revoke an API token by its id (see `token list`).
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        #[arg(value_name = "ID")]
        id: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the whole audit chain; exits 1 and names the first broken entry if it is not intact.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// File a report described in FILE (JSON or TOML, the fields of POST /api/v1/reports);
    /// - reads standard input. Prints the report's id, level, recipients and next deadline.
    Submit {
        /// The report file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The ciphub server.
        #[arg(
            long,
            env = "CIPHUB_URL",
            value_name = "URL",
            default_value = "http://127.0.0.1:8750"
        )]
        url: String,
        /// An API token of a user with the reporter role.
        #[arg(
            long,
            env = "CIPHUB_TOKEN",
            value_name = "TOKEN",
            hide_env_values = true
        )]
        token: String,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SeverityCommand {
    /// Turn answers into a level. FILE holds question = option pairs, as TOML
    /// (people-society = "may-affect") or as a JSON object; - reads standard input.
    Assess {
        /// The schema: seed-draft (default), nisc-2018 or us-nciss.
        #[arg(long, value_name = "NAME", default_value = "seed-draft")]
        schema: String,
        /// The answers file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the assessment as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a schema's questions and their options.
    Show {
        /// The schema: seed-draft, nisc-2018 or us-nciss.
        #[arg(value_name = "NAME", default_value = "seed-draft")]
        schema: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExerciseCommand {
    /// List the scenarios shipped with ciphub (usable by id wherever a FILE is asked).
    List,
    /// Check scenario files (format: exercises/README.md). Prints a summary of each, or the
    /// line of the first problem; exits with 1 if any file is invalid. With a store, also
    /// names each organization and sector the scenario uses that its registry lacks.
    Check {
        /// Scenario files, or ids of shipped scenarios.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        /// The store whose registry the teams are checked against (none: not checked).
        #[command(flatten)]
        db: DbArgs,
    },
    /// The dry run: every inject with its time at the given speed, its channel, its teams and,
    /// with a database, how many organizations each team reaches; then the expectations.
    /// Nothing is sent.
    Plan {
        /// A scenario file, or the id of a shipped one.
        #[arg(value_name = "FILE")]
        file: String,
        /// Exercise time per real time: 60 runs an hour of scenario in a minute.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        speed: u32,
        /// The language of titles: en or ja.
        #[arg(long, default_value = "en", value_parser = ["en", "ja"])]
        lang: String,
        /// The store whose registry resolves the teams (none: teams are not resolved).
        #[command(flatten)]
        db: DbArgs,
    },
    /// Play a scenario in memory with simulated participants (each answers correctly, late,
    /// wrongly or not at all, by a rule seeded with --seed) and print the scores per
    /// expectation, team and organization. Nothing is sent: for learning how a scenario scores.
    Simulate {
        /// A scenario file, or the id of a shipped one.
        #[arg(value_name = "FILE")]
        file: String,
        /// The seed of the participants' behaviour: the same seed gives the same run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The store whose registry gives the teams' organizations (none: four made-up
        /// organizations a team, one for a team of one named organization).
        #[command(flatten)]
        db: DbArgs,
    },
    /// Run a scenario over the real channels of a store: its injects go to the teams'
    /// inboxes, e-mail, webhooks and streams, marked EXERCISE, and participants' acts through
    /// the API and pages are scored. Without --simulate the run is scheduled to start now
    /// (or after --start-in) and a running `ciphub serve` plays it; with --simulate, simulated
    /// participants play it here to its end and the scores are printed.
    Run {
        /// A scenario file, or the id of a shipped one.
        #[arg(value_name = "FILE")]
        file: String,
        /// Exercise time per real time: 600 runs ten hours of scenario in a minute.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        speed: u32,
        /// Play the run here with simulated participants (seeded with --seed) until it ends.
        #[arg(long)]
        simulate: bool,
        /// The seed of the simulated participants' behaviour.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Start this long from now, such as 10m or 2h (default: now).
        #[arg(long, value_parser = humantime::parse_duration)]
        start_in: Option<std::time::Duration>,
        /// The organization that runs the exercise and sends its injects (default: the
        /// national coordinator).
        #[arg(long, value_name = "SLUG")]
        owner: Option<String>,
        /// Print the result as JSON: the run, each team's organizations and the scores.
        #[arg(long)]
        json: bool,
        /// The store to run it on (default: the configured one).
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Mixed load at a fixed rate on an in-process server on loopback: reports, alerts,
    /// acknowledgements and TAXII, read and written; errors, throughput, p50 and p99 per kind.
    Load {
        /// Requests a second (each leaves at its time, however long earlier ones take).
        #[arg(long, default_value_t = 50)]
        rate: u32,
        /// How long, such as 60s or 2m.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Database to use instead of a scratch SQLite file (its data is added to!).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// Store N correlation values in a scratch database, then correlate new STIX objects
    /// against them (find their values, drop noise, look up every item holding each): the time
    /// per object.
    Correlation {
        /// Values stored before the new objects arrive.
        #[arg(long, default_value_t = 1_000_000)]
        values: usize,
        /// New objects correlated and timed.
        #[arg(long, default_value_t = 2_000)]
        objects: usize,
        /// Database to use instead of a scratch SQLite file (its data is added to!).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// Score exercise runs in memory: every team of a shipped scenario made of N simulated
    /// participants, played and scored; the time of the scoring (and of the simulation) per
    /// scenario. The delivery of injects over the real channels is not in this measurement.
    Exercise {
        /// Participants a team (each answers every expectation of its team).
        #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        participants: u32,
        /// Timed runs of each scenario (the median is printed).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        rounds: u32,
        /// Database for the part over the store, instead of a scratch SQLite file (its data
        /// is added to!).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// Build an audit chain of N entries in a scratch database and time its verification.
    Audit {
        /// Entries in the chain.
        #[arg(long, default_value_t = 100_000)]
        entries: usize,
        /// Database to use instead of a scratch SQLite file (its data is added to!).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        /// Verification runs to time.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// One alert to every operator of the full demo, then every operator acknowledging it:
    /// the fan-out time and acknowledgements per second, on an in-process server on loopback.
    Alerts {
        /// Concurrent clients sending acknowledgements.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Database to use instead of a scratch SQLite file (its data is added to!).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// Every web page and the first page of every API list as each kind of user sees it, on
    /// the full demo with reports and alerts in it: median, p95 and worst time to the whole
    /// page. The reports are filed first by 16 concurrent clients (the filing rate is printed
    /// for each tenth); 30% go anonymously to the water CEPTOAR, half of those from the demo
    /// reporter's own organization. Of the alerts, 30 go to every sector, the rest to one
    /// sector each.
    Pages {
        /// Requests per page.
        #[arg(long, default_value_t = 50)]
        rounds: usize,
        /// Reports to file before timing.
        #[arg(long, default_value_t = 100_000)]
        reports: usize,
        /// Alerts to send before timing (at least 30).
        #[arg(long, default_value_t = 1_000)]
        alerts: usize,
        /// Database to use instead of a scratch SQLite file (its data is added to!).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// ciphub's TAXII server against medallion 3.0.0 (memory backend, started here): add
    /// indicators in envelopes and read them all back with our client, add them with the OASIS
    /// taxii2-client at its defaults; then 100-object pages from a collection of a million
    /// objects.
    Taxii {
        /// Indicators to add to each server.
        #[arg(long, default_value_t = 5_000)]
        objects: usize,
        /// Objects per envelope.
        #[arg(long, default_value_t = 100)]
        envelope: usize,
        /// The limit when reading back.
        #[arg(long, default_value_t = 1_000)]
        page: u32,
        /// Timed adds on each server, each on a fresh instance; the median is compared.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Objects in the large collection.
        #[arg(long, default_value_t = 1_000_000)]
        big: usize,
        /// Page requests timed on the large collection (twice: spread starts, then a walk).
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// The medallion command (pip install medallion==3.0.0); none measures ciphub alone.
        #[arg(long, default_value = "medallion", value_name = "PATH")]
        medallion: String,
        /// The Python that has the OASIS taxii2-client (pip install taxii2-client==2.3.0), to
        /// time its adds at its defaults on both servers; none skips that.
        #[arg(long, default_value = "python3", value_name = "PATH")]
        python: String,
        /// Database to use instead of a scratch SQLite file (its data is added to!).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// Concurrent reporters filing reports to an in-process server on loopback: latency from
    /// submission until the report sits in its recipients' queues (the 201 comes after the commit).
    Reports {
        /// Concurrent reporters, each an operator with its own token.
        #[arg(long, default_value_t = 200)]
        reporters: usize,
        /// Length of the steady phase.
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Mean pause between one reporter's reports in the steady phase.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// Rounds of the burst phase, in which every reporter files at the same instant.
        #[arg(long, default_value_t = 5)]
        bursts: usize,
        /// Database to use instead of a scratch SQLite file (its data is added to!).
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
}

/// How objects move between this instance and another TAXII server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    /// Copy what the remote collection adds into a local collection.
    Pull,
    /// Send local TLP:CLEAR and TLP:GREEN objects to the remote collection.
    Push,
}

#[derive(Subcommand, Debug)]
pub enum FederateCommand {
    /// Add a federation; a running `ciphub serve` syncs it in the background from then on.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// The remote API root, such as https://partner.example/taxii2/ciphub/.
        #[arg(long, value_name = "URL")]
        url: String,
        /// The remote collection's id.
        #[arg(long, value_name = "ID")]
        collection: String,
        /// pull (remote to here) or push (here to remote).
        #[arg(long, value_enum)]
        direction: Direction,
        /// How often to sync, such as 5m.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        every: std::time::Duration,
        /// The local collection: community (the default).
        #[arg(long, default_value = "community", value_name = "COLLECTION")]
        local: String,
        /// The organization pulled objects belong to here (default: the coordinator, nisc).
        #[arg(long, default_value = "nisc", value_name = "SLUG")]
        org: String,
        /// User name for HTTP basic authentication at the remote (with --secret as password).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Password or API token at the remote (a bearer token when --user is absent).
        #[arg(
            long,
            env = "CIPHUB_FEDERATION_SECRET",
            hide_env_values = true,
            value_name = "SECRET"
        )]
        secret: Option<String>,
    },
    /// List federations with their cursor, objects moved and last error.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove a federation (the objects it brought stay).
    Remove {
        #[command(flatten)]
        db: DbArgs,
        /// The federation's id (see list).
        id: i64,
    },
    /// Run every federation once now, and print what moved.
    Run {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum MispCommand {
    /// Import a MISP feed directory (manifest.json and one <uuid>.json per event) into the
    /// community collection; TLP tags (1.0 and 2.0) become TLP markings.
    Import {
        #[command(flatten)]
        db: DbArgs,
        /// The feed directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The organization the imported objects belong to here.
        #[arg(long, default_value = "nisc", value_name = "SLUG")]
        org: String,
    },
    /// Write the MISP feed of what may leave this instance (TLP:CLEAR and TLP:GREEN) to DIR;
    /// a running server also serves it at /misp/feed/manifest.json.
    Export {
        #[command(flatten)]
        db: DbArgs,
        /// The directory to write (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The README's list of commands, after "describe every command:", up to the next blank line.
    fn readme_commands() -> String {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("describe every command:")
            .expect("the README lists the commands");
        let rest = &readme[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
    }

    #[test]
    fn the_readme_lists_every_command() {
        let listed = readme_commands();
        // clap's own `help` subcommands are not ciphub's commands.
        let ours = |c: &clap::Command| c.get_name() != "help";
        for command in Cli::command().get_subcommands().filter(|c| ours(c)) {
            let name = command.get_name();
            let mut subs: Vec<&str> = command
                .get_subcommands()
                .filter(|c| ours(c))
                .map(|s| s.get_name())
                .collect();
            if subs.is_empty() {
                assert!(
                    listed.contains(&format!("`{name}`")),
                    "{name} in:\n{listed}"
                );
                continue;
            }
            let item = listed
                .split('`')
                .find_map(|item| item.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} is not in the README's list:\n{listed}"));
            let mut in_readme: Vec<&str> = item.split('|').collect();
            subs.sort_unstable();
            in_readme.sort_unstable();
            assert_eq!(in_readme, subs, "the README's `{name} ...`");
        }
    }
}
