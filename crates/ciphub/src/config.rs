//! Settings: the TOML file, overridden by CIPHUB_* variables and flags (which clap reads).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::TimeDelta;
use ciphub_domain::report::{DeadlineOverride, DeadlinePolicy, Formation, StageDeadlines};
use ciphub_store::sqlite_url_for_dir;
use serde::Deserialize;

use crate::cli::{DbArgs, LogFormat};

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Directory of the embedded store.
    pub data_dir: Option<PathBuf>,
    /// Database URL; wins over data_dir.
    pub database_url: Option<String>,
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// The jurisdiction profile loaded into an empty registry.
    pub profile: Option<String>,
    /// The time zone pages show times in for users who have not chosen one (IANA name).
    pub time_zone: Option<String>,
    /// Largest request body in bytes.
    pub body_limit: Option<usize>,
    /// Session lifetime, such as "12h".
    pub session_ttl: Option<String>,
    /// Mark session cookies Secure (keep true unless behind nothing but plain HTTP on a LAN).
    pub secure_cookies: Option<bool>,
    /// Failed logins per user within login_window before logins are refused.
    pub login_failures: Option<u32>,
    pub login_window: Option<String>,
    /// Database connections in the pool.
    pub max_connections: Option<u32>,
    pub log_format: Option<LogFormat>,
    /// Report stage deadlines.
    pub deadlines: Option<DeadlinesConfig>,
    /// The address the public reaches ciphub at (for links in the Atom feed and e-mail).
    pub public_url: Option<String>,
    /// Where alert e-mail goes out; without it, alerts are not e-mailed.
    pub mail: Option<MailSection>,
    /// Retries of e-mail and webhook calls, and attachment sizes.
    pub delivery: Option<DeliverySection>,
    /// TAXII limits, federation and this instance's name.
    pub taxii: Option<TaxiiSection>,
    /// Correlation of observables across reports, alerts and STIX objects.
    pub correlation: Option<CorrelationSection>,
    /// Requests to the REST API per credential and per client address.
    pub limits: Option<LimitsSection>,
    /// The font (TrueType or OpenType, with Japanese) after-action reports are drawn in as
    /// PDF; by default Debian's fonts-ipafont-gothic or fonts-noto-cjk, where installed.
    pub pdf_font: Option<PathBuf>,
}

/// `[limits]`: token buckets of requests to the REST API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Requests per credential per minute (default 600).
    pub api_per_minute: Option<u32>,
    /// Requests per credential at once (default 100).
    pub api_burst: Option<u32>,
    /// Requests per client address per minute, for the API and, apart, for TAXII (default 1200).
    pub address_per_minute: Option<u32>,
    /// Requests per client address at once (default 200).
    pub address_burst: Option<u32>,
}

/// `[correlation]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelationSection {
    /// The smallest group of organizations whose items a reader who may not read them is
    /// told of, as a count (default 5; at least 2).
    pub k: Option<usize>,
    /// How often new reports, alerts and STIX objects are correlated (default 2s).
    pub poll: Option<String>,
}

/// `[taxii]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxiiSection {
    /// The largest envelope accepted, in bytes (default 10485760).
    pub max_content_length: Option<usize>,
    /// No longer used: an envelope is limited by `max_content_length` alone, as TAXII 2.1 says.
    /// Still read, so older files load; a warning says it is ignored.
    pub max_objects: Option<usize>,
    /// The largest page a GET returns (default 1000).
    pub max_page: Option<u32>,
    /// Requests per credential per minute (default 1200).
    pub requests_per_minute: Option<u32>,
    /// Requests per credential at once (default 100).
    pub burst: Option<u32>,
    /// Bytes of checked envelopes waiting to be written (default 8388608).
    pub queue_bytes: Option<usize>,
    /// How long a POST waits for its objects to be written, to answer `complete` at once
    /// (default 500ms; 0s always answers `pending`).
    pub complete_within: Option<String>,
    /// This instance's name, in the ids of its STIX exports and its MISP feed (default "ciphub").
    pub instance_name: Option<String>,
    /// How often due federations are looked for (default 5s).
    pub federation_poll: Option<String>,
}

/// `[mail]`: the SMTP server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSection {
    /// smtp://host:25, smtp://user:password@host:587?tls=required or smtps://host:465.
    pub smtp_url: String,
    /// The sender, such as "ciphub <alerts@example.org>".
    pub from: String,
}

/// `[delivery]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySection {
    /// Tries of an e-mail or webhook call before it is a dead letter (default 8).
    pub attempts: Option<u32>,
    /// The wait before the first retry, doubling each time (default 30s).
    pub retry_backoff: Option<String>,
    /// How often the job worker looks for due jobs when nothing wakes it (default 1s).
    pub job_poll: Option<String>,
    /// The largest attachment in bytes (default 4194304).
    pub attachment_limit: Option<usize>,
    /// Let webhooks and federations call loopback and private-network addresses (default false).
    pub webhook_private_targets: Option<bool>,
}

/// Stage deadlines: defaults, then overrides tried in order.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlinesConfig {
    /// From detection to the initial report (default 24h).
    pub initial: Option<String>,
    /// From the initial report to the first update (default 72h).
    pub update: Option<String>,
    /// From the initial report to the final report (default 30d).
    #[serde(rename = "final")]
    pub final_report: Option<String>,
    #[serde(default, rename = "override")]
    pub overrides: Vec<DeadlineOverrideConfig>,
}

/// Deadlines for one formation and/or for emergencies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineOverrideConfig {
    /// ministry, ceptoar-anonymous or agency; all when absent.
    pub formation: Option<String>,
    /// Only reports at an emergency level.
    #[serde(default)]
    pub emergency_only: bool,
    pub initial: Option<String>,
    pub update: Option<String>,
    #[serde(rename = "final")]
    pub final_report: Option<String>,
}

fn stage_deadlines(
    key: &str,
    base: StageDeadlines,
    initial: Option<&String>,
    update: Option<&String>,
    final_report: Option<&String>,
) -> anyhow::Result<StageDeadlines> {
    let delta = |name: &str, v: Option<&String>, default: TimeDelta| -> anyhow::Result<TimeDelta> {
        match v {
            None => Ok(default),
            Some(t) => TimeDelta::from_std(duration(&format!("{key}.{name}"), t)?)
                .with_context(|| format!("{key}.{name} = {t:?} is too long")),
        }
    };
    Ok(StageDeadlines {
        initial: delta("initial", initial, base.initial)?,
        update: delta("update", update, base.update)?,
        final_report: delta("final", final_report, base.final_report)?,
    })
}

impl FileConfig {
    /// Reads the file at `path`, or the defaults when there is none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("configuration file {} is not valid", path.display()))
    }

    /// The database URL from flags, environment, then this file; `fallback_dir` otherwise.
    /// Creates the data directory of an embedded store.
    pub fn database_url(&self, db: &DbArgs, fallback_dir: &Path) -> anyhow::Result<String> {
        if let Some(url) = &db.database_url {
            return Ok(url.clone());
        }
        let dir = match (&db.data_dir, &self.database_url, &self.data_dir) {
            (Some(dir), _, _) => dir.clone(),
            (None, Some(url), _) => return Ok(url.clone()),
            (None, None, Some(dir)) => dir.clone(),
            (None, None, None) => fallback_dir.to_path_buf(),
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve data directory {}", dir.display()))?;
        Ok(sqlite_url_for_dir(&dir))
    }

    /// The server's settings.
    pub fn server(&self) -> anyhow::Result<ciphub_server::ServerConfig> {
        let mut c = ciphub_server::ServerConfig::default();
        if let Some(n) = self.body_limit {
            if n == 0 {
                bail!("body_limit must be larger than 0");
            }
            c.body_limit = n;
        }
        if let Some(t) = &self.session_ttl {
            c.session_ttl = duration("session_ttl", t)?;
        }
        if let Some(b) = self.secure_cookies {
            c.secure_cookies = b;
        }
        if let Some(n) = self.login_failures {
            c.login_failures = n;
        }
        if let Some(t) = &self.login_window {
            c.login_window = duration("login_window", t)?;
        }
        c.public_url.clone_from(&self.public_url);
        if let Some(m) = &self.mail {
            c.mail = Some(ciphub_server::MailConfig {
                smtp_url: m.smtp_url.clone(),
                from: m.from.clone(),
            });
        }
        if let Some(d) = &self.delivery {
            if let Some(n) = d.attempts {
                if n == 0 {
                    bail!("delivery.attempts must be at least 1");
                }
                c.delivery_attempts = n;
            }
            if let Some(t) = &d.retry_backoff {
                c.retry_backoff = duration("delivery.retry_backoff", t)?;
            }
            if let Some(t) = &d.job_poll {
                c.job_poll = Some(duration("delivery.job_poll", t)?);
            }
            if let Some(n) = d.attachment_limit {
                if n == 0 {
                    bail!("delivery.attachment_limit must be larger than 0");
                }
                c.attachment_limit = n;
            }
            if let Some(b) = d.webhook_private_targets {
                c.webhook_private_targets = b;
            }
        }
        if let Some(z) = &self.time_zone {
            c.time_zone = ciphub_server::web::time::parse_zone(z)
                .map_err(|e| anyhow::anyhow!("time_zone: {e}"))?;
        }
        if let Some(f) = &self.pdf_font {
            if !f.is_file() {
                bail!("pdf_font: {} is not a file", f.display());
            }
            c.pdf_font = Some(f.clone());
        }
        if let Some(t) = &self.taxii {
            let positive = |name: &str, n: usize| {
                if n == 0 {
                    bail!("taxii.{name} must be at least 1");
                }
                Ok(n)
            };
            if let Some(n) = t.max_content_length {
                c.taxii.max_content_length = positive("max_content_length", n)?;
            }
            if t.max_objects.is_some() {
                eprintln!(
                    "warning: [taxii] max_objects is ignored: an envelope is limited by max_content_length alone"
                );
            }
            if let Some(n) = t.max_page {
                c.taxii.max_page = positive("max_page", n as usize)? as u32;
            }
            if let Some(n) = t.requests_per_minute {
                c.taxii.requests_per_minute = positive("requests_per_minute", n as usize)? as u32;
            }
            if let Some(n) = t.burst {
                c.taxii.burst = positive("burst", n as usize)? as u32;
            }
            if let Some(n) = t.queue_bytes {
                c.taxii.queue_bytes = positive("queue_bytes", n)?;
            }
            if let Some(d) = &t.complete_within {
                c.taxii.complete_within = duration("taxii.complete_within", d)?;
            }
            if let Some(name) = &t.instance_name {
                c.instance_name = name.clone();
            }
            if let Some(p) = &t.federation_poll {
                c.federation_poll = Some(duration("taxii.federation_poll", p)?);
            }
        }
        if let Some(l) = &self.limits {
            let positive = |name: &str, n: Option<u32>, into: &mut u32| {
                match n {
                    Some(0) => bail!("limits.{name} must be at least 1"),
                    Some(n) => *into = n,
                    None => {}
                }
                Ok(())
            };
            let api = &mut c.api_limits;
            positive(
                "api_per_minute",
                l.api_per_minute,
                &mut api.per_credential.per_minute,
            )?;
            positive("api_burst", l.api_burst, &mut api.per_credential.burst)?;
            positive(
                "address_per_minute",
                l.address_per_minute,
                &mut api.per_address.per_minute,
            )?;
            positive("address_burst", l.address_burst, &mut api.per_address.burst)?;
        }
        if let Some(cor) = &self.correlation {
            if let Some(k) = cor.k {
                if k < 2 {
                    bail!("correlation.k = {k} would count single organizations: use 2 or more");
                }
                c.correlation_k = k;
            }
            if let Some(p) = &cor.poll {
                c.correlation_poll = Some(duration("correlation.poll", p)?);
            }
        }
        if let Some(d) = &self.deadlines {
            let default = stage_deadlines(
                "deadlines",
                StageDeadlines::default(),
                d.initial.as_ref(),
                d.update.as_ref(),
                d.final_report.as_ref(),
            )?;
            let mut overrides = Vec::new();
            for (i, o) in d.overrides.iter().enumerate() {
                let key = format!("deadlines.override[{i}]");
                let formation = o
                    .formation
                    .as_deref()
                    .map(|f| {
                        f.parse::<Formation>()
                            .map_err(|e| anyhow::anyhow!("{key}.formation: {e}"))
                    })
                    .transpose()?;
                overrides.push(DeadlineOverride {
                    formation,
                    emergency_only: o.emergency_only,
                    deadlines: stage_deadlines(
                        &key,
                        default,
                        o.initial.as_ref(),
                        o.update.as_ref(),
                        o.final_report.as_ref(),
                    )?,
                });
            }
            c.deadlines = DeadlinePolicy { default, overrides };
        }
        Ok(c)
    }
}

fn duration(key: &str, text: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(text)
        .with_context(|| format!("{key} = {text:?} is not a duration such as 12h or 30m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig =
            toml::from_str("database_url = \"postgres://db/ciphub\"").expect("toml");
        let db = DbArgs {
            data_dir: None,
            database_url: Some("sqlite://x.db".into()),
        };
        assert_eq!(
            file.database_url(&db, Path::new("unused")).expect("url"),
            "sqlite://x.db"
        );
        let none = DbArgs::default();
        assert_eq!(
            file.database_url(&none, Path::new("unused")).expect("url"),
            "postgres://db/ciphub"
        );
    }

    #[test]
    fn request_limits_are_rates_with_bursts() {
        let file: FileConfig = toml::from_str(
            "[limits]\napi_per_minute = 60\napi_burst = 5\naddress_burst = 7\n[taxii]\nrequests_per_minute = 30\nburst = 3\n",
        )
        .expect("toml");
        let c = file.server().expect("server");
        let rate = |per_minute, burst| ciphub_server::Rate { per_minute, burst };
        assert_eq!(c.api_limits.per_credential, rate(60, 5));
        assert_eq!(c.api_limits.per_address, rate(1_200, 7));
        assert_eq!(c.taxii.rate(), rate(30, 3));
        let zero: FileConfig = toml::from_str("[limits]\napi_burst = 0\n").expect("toml");
        assert!(zero.server().is_err());
        assert!(toml::from_str::<FileConfig>("[limits]\nper_minute = 1\n").is_err());
    }

    #[test]
    fn deadlines_are_configured_per_formation_and_severity() {
        let file: FileConfig = toml::from_str(
            "[deadlines]\ninitial = \"12h\"\n[[deadlines.override]]\nemergency_only = true\ninitial = \"1h\"\nupdate = \"6h\"\n",
        )
        .expect("toml");
        let c = file.server().expect("server");
        assert_eq!(
            c.deadlines.for_report(Formation::Ministry, false).initial,
            TimeDelta::hours(12)
        );
        let e = c.deadlines.for_report(Formation::Agency, true);
        assert_eq!(
            (e.initial, e.update, e.final_report),
            (
                TimeDelta::hours(1),
                TimeDelta::hours(6),
                TimeDelta::days(30)
            )
        );
        let bad: FileConfig =
            toml::from_str("[[deadlines.override]]\nformation = \"fax\"\n").expect("toml");
        let err = bad.server().unwrap_err().to_string();
        assert!(err.contains("deadlines.override[0].formation"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_named() {
        let err = toml::from_str::<FileConfig>("listen_addr = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
        let file: FileConfig = toml::from_str("session_ttl = \"forever\"").expect("toml");
        assert!(
            file.server()
                .unwrap_err()
                .to_string()
                .contains("session_ttl")
        );
    }
}
