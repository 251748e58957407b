//! The severity engine: schemas as data (levels, questions, options, weights, the combining
//! rule) and the assessment that turns answers into a level with its rationale.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// How answers combine into a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Each option names a level; the highest answered level wins.
    Highest,
    /// Each option has a value 0 to 100; the weighted mean is mapped to a level by thresholds.
    WeightedMean,
}

/// One level of a schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub number: u8,
    pub name_en: String,
    #[serde(default)]
    pub name_ja: Option<String>,
    /// A CSS colour, for badges.
    pub colour: String,
    pub definition_en: String,
    #[serde(default)]
    pub definition_ja: Option<String>,
}

/// An answer a question allows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    pub label_en: String,
    #[serde(default)]
    pub label_ja: Option<String>,
    /// The level this answer sets (rule `highest`).
    #[serde(default)]
    pub level: Option<u8>,
    /// The value of this answer, 0 to 100 (rule `weighted-mean`).
    #[serde(default)]
    pub value: Option<f64>,
}

/// A viewpoint (rule `highest`) or a scoring category (rule `weighted-mean`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub name_en: String,
    #[serde(default)]
    pub name_ja: Option<String>,
    /// The category's weight (rule `weighted-mean`).
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(rename(deserialize = "option"))]
    pub options: Vec<Choice>,
}

/// The lowest score of a level (rule `weighted-mean`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub min_score: f64,
    pub level: u8,
}

/// A severity schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub id: String,
    pub name_en: String,
    #[serde(default)]
    pub name_ja: Option<String>,
    pub rule: Rule,
    /// Levels from this number up are emergencies: the coordinator's duty desk is told at once.
    pub emergency_from: u8,
    /// Where part of the schema is local policy rather than the source's, it says so here.
    #[serde(default)]
    pub policy_note: Option<String>,
    #[serde(rename(deserialize = "level"))]
    pub levels: Vec<Level>,
    #[serde(default, rename(deserialize = "threshold"))]
    pub thresholds: Vec<Threshold>,
    #[serde(rename(deserialize = "question"))]
    pub questions: Vec<Question>,
}

/// What is wrong with a schema or with answers to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeverityError {
    #[error("schema is not valid TOML: {0}")]
    Syntax(String),
    #[error("schema {schema}: {problem}")]
    Invalid { schema: String, problem: String },
    #[error(
        "unknown severity schema {0:?}; shipped schemas are seed-draft, nisc-2018 and us-nciss"
    )]
    UnknownSchema(String),
    #[error("answers[{question}]: no such question in schema {schema}; expected one of {expected}")]
    UnknownQuestion {
        schema: String,
        question: String,
        expected: String,
    },
    #[error("answers[{question}]: {option:?} is not an option; expected one of {expected}")]
    UnknownOption {
        question: String,
        option: String,
        expected: String,
    },
    #[error("answers[{question}]: missing; schema {schema} needs an answer to every question")]
    Missing { schema: String, question: String },
}

impl SeverityError {
    /// The answer at fault, when there is one.
    pub fn question(&self) -> Option<&str> {
        match self {
            SeverityError::UnknownQuestion { question, .. }
            | SeverityError::UnknownOption { question, .. }
            | SeverityError::Missing { question, .. } => Some(question),
            _ => None,
        }
    }
}

/// One answer's part in a level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    pub question: String,
    pub option: String,
    pub label_en: String,
    /// The level the answer names (highest) or its weighted share of the score (weighted mean).
    pub contribution: f64,
}

/// The level a set of answers comes to, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    pub schema: String,
    pub level: u8,
    pub name_en: String,
    pub name_ja: Option<String>,
    pub colour: String,
    pub emergency: bool,
    /// The weighted mean, 0 to 100, rounded to one decimal (weighted-mean schemas only).
    pub score: Option<f64>,
    /// The answers that set the level, most decisive first.
    pub rationale: Vec<Reason>,
}

/// Answers: question id to option id.
pub type Answers = BTreeMap<String, String>;

impl Schema {
    /// Parses and checks a schema from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, SeverityError> {
        let schema: Schema =
            toml::from_str(text).map_err(|e| SeverityError::Syntax(e.to_string()))?;
        schema.check()?;
        Ok(schema)
    }

    fn invalid(&self, problem: impl Into<String>) -> SeverityError {
        SeverityError::Invalid {
            schema: self.id.clone(),
            problem: problem.into(),
        }
    }

    /// Checks the schema is complete and consistent.
    pub fn check(&self) -> Result<(), SeverityError> {
        let numbers: Vec<u8> = self.levels.iter().map(|l| l.number).collect();
        let expected: Vec<u8> = (0..self.levels.len() as u8).collect();
        if numbers.is_empty() || numbers != expected {
            return Err(self.invalid("levels must be numbered 0, 1, 2... in order"));
        }
        if !numbers.contains(&self.emergency_from) {
            return Err(self.invalid("emergency_from must be one of the levels"));
        }
        if self.questions.is_empty() {
            return Err(self.invalid("a schema needs at least one question"));
        }
        let mut ids = BTreeSet::new();
        for q in &self.questions {
            if !ids.insert(&q.id) {
                return Err(self.invalid(format!("question {:?} is declared twice", q.id)));
            }
            if q.options.is_empty() {
                return Err(self.invalid(format!("question {:?} has no options", q.id)));
            }
            let mut opts = BTreeSet::new();
            for o in &q.options {
                if !opts.insert(&o.id) {
                    return Err(self.invalid(format!(
                        "question {:?}: option {:?} is declared twice",
                        q.id, o.id
                    )));
                }
                match self.rule {
                    Rule::Highest => match o.level {
                        Some(l) if numbers.contains(&l) => {}
                        _ => {
                            return Err(self.invalid(format!(
                                "question {:?}: option {:?} needs a level of this schema",
                                q.id, o.id
                            )));
                        }
                    },
                    Rule::WeightedMean => match o.value {
                        Some(v) if (0.0..=100.0).contains(&v) => {}
                        _ => {
                            return Err(self.invalid(format!(
                                "question {:?}: option {:?} needs a value from 0 to 100",
                                q.id, o.id
                            )));
                        }
                    },
                }
            }
            if self.rule == Rule::WeightedMean && !q.weight.is_some_and(|w| w > 0.0) {
                return Err(self.invalid(format!("question {:?} needs a positive weight", q.id)));
            }
        }
        if self.rule == Rule::WeightedMean {
            let t = &self.thresholds;
            if t.first().map(|t| t.min_score) != Some(0.0) {
                return Err(self.invalid("thresholds must start at min_score 0"));
            }
            for pair in t.windows(2) {
                if pair[1].min_score <= pair[0].min_score || pair[1].level <= pair[0].level {
                    return Err(self.invalid("thresholds must rise in both min_score and level"));
                }
            }
            if t.iter().any(|t| !numbers.contains(&t.level)) {
                return Err(self.invalid("every threshold must name a level of this schema"));
            }
        }
        Ok(())
    }

    /// The level numbered `n`.
    pub fn level(&self, n: u8) -> Option<&Level> {
        self.levels.get(usize::from(n))
    }

    /// Whether level `n` is an emergency.
    pub fn is_emergency(&self, n: u8) -> bool {
        n >= self.emergency_from
    }

    /// Checks `answers` against the questions: every question answered with one of its options.
    fn resolve<'a>(
        &'a self,
        answers: &Answers,
    ) -> Result<Vec<(&'a Question, &'a Choice)>, SeverityError> {
        for key in answers.keys() {
            if !self.questions.iter().any(|q| &q.id == key) {
                return Err(SeverityError::UnknownQuestion {
                    schema: self.id.clone(),
                    question: key.clone(),
                    expected: self
                        .questions
                        .iter()
                        .map(|q| q.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        self.questions
            .iter()
            .map(|q| {
                let Some(answer) = answers.get(&q.id) else {
                    return Err(SeverityError::Missing {
                        schema: self.id.clone(),
                        question: q.id.clone(),
                    });
                };
                q.options
                    .iter()
                    .find(|o| &o.id == answer)
                    .map(|o| (q, o))
                    .ok_or_else(|| SeverityError::UnknownOption {
                        question: q.id.clone(),
                        option: answer.clone(),
                        expected: q
                            .options
                            .iter()
                            .map(|o| o.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            })
            .collect()
    }

    /// Turns answers into a level, with the answers that set it.
    pub fn assess(&self, answers: &Answers) -> Result<Assessment, SeverityError> {
        let chosen = self.resolve(answers)?;
        let reason = |q: &Question, o: &Choice, contribution: f64| Reason {
            question: q.id.clone(),
            option: o.id.clone(),
            label_en: o.label_en.clone(),
            contribution,
        };
        let (level, score, rationale) = match self.rule {
            Rule::Highest => {
                let level = chosen
                    .iter()
                    .filter_map(|(_, o)| o.level)
                    .max()
                    .unwrap_or(0);
                let rationale = chosen
                    .iter()
                    .filter(|(_, o)| o.level == Some(level))
                    .map(|(q, o)| reason(q, o, f64::from(level)))
                    .collect();
                (level, None, rationale)
            }
            Rule::WeightedMean => {
                let total_weight: f64 = chosen.iter().filter_map(|(q, _)| q.weight).sum();
                let mut parts: Vec<Reason> = chosen
                    .iter()
                    .map(|(q, o)| {
                        let share = q.weight.unwrap_or(0.0) * o.value.unwrap_or(0.0) / total_weight;
                        reason(q, o, (share * 10.0).round() / 10.0)
                    })
                    .collect();
                let raw: f64 = chosen
                    .iter()
                    .map(|(q, o)| q.weight.unwrap_or(0.0) * o.value.unwrap_or(0.0))
                    .sum::<f64>()
                    / total_weight;
                let score = (raw * 10.0).round() / 10.0;
                let level = self
                    .thresholds
                    .iter()
                    .rev()
                    .find(|t| score >= t.min_score)
                    .map_or(0, |t| t.level);
                parts.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
                // The answers that carry the score: the largest shares making up half of it.
                let mut acc = 0.0;
                let rationale = parts
                    .into_iter()
                    .take_while(|p| {
                        let keep = acc < score / 2.0 || acc == 0.0;
                        acc += p.contribution;
                        keep
                    })
                    .collect();
                (level, Some(score), rationale)
            }
        };
        let l = self
            .level(level)
            .ok_or_else(|| self.invalid(format!("level {level} is missing")))?;
        Ok(Assessment {
            schema: self.id.clone(),
            level,
            name_en: l.name_en.clone(),
            name_ja: l.name_ja.clone(),
            colour: l.colour.clone(),
            emergency: self.is_emergency(level),
            score,
            rationale,
        })
    }
}

impl Schema {
    /// Some answers that come to `level`, or `None` when none are found: for simulated
    /// participants, who must choose a level through answers as people do. Walks from the
    /// mildest answers to the gravest, each step changing the one answer that raises the
    /// assessment least, and takes the first answers that come to `level`.
    pub fn answers_for(&self, level: u8) -> Option<Answers> {
        let key = |o: &Choice| (o.level.unwrap_or(0), o.value.unwrap_or(0.0));
        let sorted: Vec<Vec<&Choice>> = self
            .questions
            .iter()
            .map(|q| {
                let mut o: Vec<&Choice> = q.options.iter().collect();
                o.sort_by(|a, b| {
                    let (ka, kb) = (key(a), key(b));
                    ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
                });
                o
            })
            .collect();
        if sorted.iter().any(Vec::is_empty) {
            return None;
        }
        let answers_of = |pick: &[usize], sorted: &[Vec<&Choice>]| -> Answers {
            self.questions
                .iter()
                .zip(pick)
                .zip(sorted)
                .map(|((q, &k), opts)| (q.id.clone(), opts[k].id.clone()))
                .collect()
        };
        let grade = |a: &Answers| {
            self.assess(a)
                .ok()
                .map(|x| (x.level, x.score.unwrap_or(0.0)))
        };
        let mut pick = vec![0_usize; sorted.len()];
        loop {
            let now = answers_of(&pick, &sorted);
            if grade(&now).is_some_and(|g| g.0 == level) {
                return Some(now);
            }
            let mut best: Option<(usize, (u8, f64))> = None;
            for i in 0..pick.len() {
                if pick[i] + 1 >= sorted[i].len() {
                    continue;
                }
                pick[i] += 1;
                let g = grade(&answers_of(&pick, &sorted));
                pick[i] -= 1;
                if let Some(g) = g
                    && best.is_none_or(|(_, b)| (g.0, g.1) < (b.0, b.1))
                {
                    best = Some((i, g));
                }
            }
            match best {
                Some((i, g)) if g.0 <= level => pick[i] += 1,
                _ => return None,
            }
        }
    }
}

/// The schemas shipped with ciphub, by id; the first is the default.
pub const SHIPPED_SCHEMAS: [(&str, &str); 3] = [
    (
        "seed-draft",
        include_str!("../../../schemas/seed-draft.toml"),
    ),
    ("nisc-2018", include_str!("../../../schemas/nisc-2018.toml")),
    ("us-nciss", include_str!("../../../schemas/us-nciss.toml")),
];

/// The default schema's id.
pub const DEFAULT_SCHEMA: &str = "seed-draft";

/// A shipped schema by id (parsed once per process).
pub fn shipped_schema(id: &str) -> Result<Schema, SeverityError> {
    static PARSED: std::sync::OnceLock<Vec<Result<Schema, SeverityError>>> =
        std::sync::OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        SHIPPED_SCHEMAS
            .iter()
            .map(|(_, text)| Schema::from_toml(text))
            .collect()
    });
    SHIPPED_SCHEMAS
        .iter()
        .zip(parsed)
        .find(|((name, _), _)| *name == id)
        .map(|(_, schema)| schema.clone())
        .unwrap_or_else(|| Err(SeverityError::UnknownSchema(id.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answers(pairs: &[(&str, &str)]) -> Answers {
        pairs
            .iter()
            .map(|(q, o)| ((*q).to_owned(), (*o).to_owned()))
            .collect()
    }

    #[test]
    fn answers_are_found_for_every_level_a_schema_can_give() {
        for (id, _) in SHIPPED_SCHEMAS {
            let s = shipped_schema(id).expect(id);
            for l in &s.levels {
                let found = s.answers_for(l.number);
                if let Some(a) = &found {
                    assert_eq!(s.assess(a).unwrap().level, l.number, "{id}");
                }
            }
            let reached: Vec<u8> = s
                .levels
                .iter()
                .map(|l| l.number)
                .filter(|&n| s.answers_for(n).is_some())
                .collect();
            let all: Vec<u8> = s.levels.iter().map(|l| l.number).collect();
            assert_eq!(reached, all, "{id}: levels some answers come to");
            assert!(s.answers_for(250).is_none());
        }
    }

    #[test]
    fn every_shipped_schema_is_valid() {
        for (id, _) in SHIPPED_SCHEMAS {
            let s = shipped_schema(id).expect(id);
            assert_eq!(s.id, id);
        }
    }

    #[test]
    fn nciss_check_value_is_59_4() {
        let s = shipped_schema("us-nciss").expect("schema");
        let a = s
            .assess(&answers(&[
                ("functional-impact", "denial-non-critical"),
                ("observed-activity", "effect"),
                ("location", "business-network"),
                ("actor", "criminal"),
                ("information-impact", "destruction-non-critical"),
                ("recoverability", "extended"),
                ("cross-sector-dependency", "water"),
                ("potential-impact", "moderate"),
            ]))
            .expect("assessed");
        assert_eq!(a.score, Some(59.4));
        assert_eq!((a.level, a.name_en.as_str()), (3, "High"));
        assert!(!a.emergency);
        // Observed activity (5 x 100) carries the largest share.
        assert_eq!(a.rationale[0].question, "observed-activity");
        let weights: f64 = s.questions.iter().filter_map(|q| q.weight).sum();
        assert_eq!(weights, 34.0);
    }

    #[test]
    fn nciss_extremes_reach_the_lowest_and_highest_levels() {
        let s = shipped_schema("us-nciss").expect("schema");
        let pick = |first: bool| -> Answers {
            s.questions
                .iter()
                .map(|q| {
                    let o = q
                        .options
                        .iter()
                        .min_by(|a, b| {
                            let (a, b) = (a.value.unwrap_or(0.0), b.value.unwrap_or(0.0));
                            if first {
                                a.total_cmp(&b)
                            } else {
                                b.total_cmp(&a)
                            }
                        })
                        .expect("options");
                    (q.id.clone(), o.id.clone())
                })
                .collect()
        };
        let low = s.assess(&pick(true)).expect("low");
        let high = s.assess(&pick(false)).expect("high");
        assert_eq!(high.score, Some(100.0));
        assert_eq!((high.level, high.emergency), (5, true));
        assert!(low.level <= 1, "{low:?}");
    }

    #[test]
    fn seed_draft_takes_the_highest_viewpoint() {
        let s = shipped_schema("seed-draft").expect("schema");
        for (people, systems, want) in [
            ("none", "none", 0),
            ("unlikely", "none", 1),
            ("may-affect", "provision-degraded", 3),
            ("significant", "provision-may", 4),
            ("imminent-wide", "none", 5),
            ("none", "continuity-safety-lost", 5),
        ] {
            let a = s
                .assess(&answers(&[
                    ("people-society", people),
                    ("systems", systems),
                ]))
                .expect("assessed");
            assert_eq!(a.level, want, "{people}/{systems}");
            assert_eq!(a.emergency, want >= 4, "levels 4 and 5 are emergencies");
            assert!(
                a.rationale
                    .iter()
                    .all(|r| r.contribution == f64::from(want))
            );
        }
        assert_eq!(s.levels.len(), 6);
        assert_eq!(s.level(5).map(|l| l.name_en.as_str()), Some("Emergency"));
    }

    #[test]
    fn nisc_2018_has_five_levels_and_the_highest_wins() {
        let s = shipped_schema("nisc-2018").expect("schema");
        assert_eq!(s.levels.len(), 5);
        let a = s
            .assess(&answers(&[
                ("continuity", "partial"),
                ("safety", "loss-of-life"),
            ]))
            .expect("assessed");
        assert_eq!(
            (a.level, a.name_en.as_str()),
            (4, "Remarkably serious impact")
        );
        assert_eq!(a.rationale.len(), 1);
        assert_eq!(a.rationale[0].question, "safety");
        let b = s
            .assess(&answers(&[
                ("continuity", "brief-local"),
                ("safety", "none"),
            ]))
            .expect("assessed");
        assert_eq!(b.level, 1);
    }

    #[test]
    fn bad_answers_name_the_question() {
        let s = shipped_schema("nisc-2018").expect("schema");
        let err = s
            .assess(&answers(&[("continuity", "partial")]))
            .unwrap_err();
        assert_eq!(err.question(), Some("safety"));
        let err = s
            .assess(&answers(&[("continuity", "forever"), ("safety", "none")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("\"forever\" is not an option"),
            "{err}"
        );
        let err = s
            .assess(&answers(&[
                ("continuity", "none"),
                ("safety", "none"),
                ("colour", "red"),
            ]))
            .unwrap_err();
        assert_eq!(err.question(), Some("colour"));
        assert!(matches!(
            shipped_schema("iso-9999"),
            Err(SeverityError::UnknownSchema(_))
        ));
    }

    #[test]
    fn broken_schemas_are_refused() {
        let mut s = shipped_schema("us-nciss").expect("schema");
        s.thresholds[2].min_score = 5.0;
        assert!(s.check().is_err());
        let mut s = shipped_schema("seed-draft").expect("schema");
        s.questions[0].options[0].level = Some(9);
        assert!(s.check().is_err());
    }

    proptest! {
        #[test]
        fn any_complete_answer_set_gets_a_level_of_the_schema(seed in proptest::collection::vec(0usize..20, 8)) {
            for (id, _) in SHIPPED_SCHEMAS {
                let s = shipped_schema(id).expect("schema");
                let a: Answers = s.questions.iter().zip(seed.iter().cycle()).map(|(q, i)| {
                    (q.id.clone(), q.options[i % q.options.len()].id.clone())
                }).collect();
                let got = s.assess(&a).expect("assessed");
                prop_assert!(usize::from(got.level) < s.levels.len());
                prop_assert!(!got.rationale.is_empty());
                if let Some(score) = got.score {
                    prop_assert!((0.0..=100.0).contains(&score));
                }
            }
        }
    }
}
