//! The lessons-learned questionnaire every run sends its participants when it ends, in the
//! manner of CISA's tabletop exercise packages: what went well, what to improve, what the
//! organization will change, and how realistic the scenario was.

/// The id the questionnaire's message has among a run's sent injects (no scenario may use it).
pub const INJECT: &str = "lessons-learned";

/// The longest answer, in characters.
pub const MAX_ANSWER: usize = 5000;

/// One question: its id, and its text in English and Japanese.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    pub id: &'static str,
    pub en: &'static str,
    pub ja: &'static str,
    /// Answered 1 to 5 rather than in words.
    pub scale: bool,
}

/// The questions, in order.
pub const QUESTIONS: [Question; 4] = [
    Question {
        id: "strengths",
        en: "What went well for your organization?",
        ja: "貴組織で、うまくいったことは何ですか。",
        scale: false,
    },
    Question {
        id: "improve",
        en: "What should be improved, and where did you get stuck?",
        ja: "改善すべき点、行き詰まった点は何ですか。",
        scale: false,
    },
    Question {
        id: "changes",
        en: "What will your organization change, and by when?",
        ja: "貴組織は何を、いつまでに変えますか。",
        scale: false,
    },
    Question {
        id: "realism",
        en: "How realistic was the scenario, from 1 (not at all) to 5 (very)?",
        ja: "シナリオの現実味を 1（まったくない）から 5（とてもある）で評価してください。",
        scale: true,
    },
];

/// The question with `id`.
pub fn question(id: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.id == id)
}

/// Checks one answer: a known question, text of 1 to `MAX_ANSWER` characters, or 1 to 5 for
/// the scale; the reason when not.
pub fn check_answer(id: &str, answer: &str) -> Result<(), String> {
    let Some(q) = question(id) else {
        let ids: Vec<&str> = QUESTIONS.iter().map(|q| q.id).collect();
        return Err(format!("no question {id:?}: one of {}", ids.join(", ")));
    };
    let text = answer.trim();
    if q.scale {
        return match text.parse::<u8>() {
            Ok(1..=5) => Ok(()),
            _ => Err(format!("{:?} is not a number from 1 to 5", answer)),
        };
    }
    if text.is_empty() || text.chars().count() > MAX_ANSWER {
        return Err(format!("an answer has 1 to {MAX_ANSWER} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_by_question() {
        assert!(check_answer("strengths", "Fast relay").is_ok());
        assert!(check_answer("strengths", "  ").is_err());
        assert!(check_answer("realism", "4").is_ok());
        assert_eq!(
            check_answer("realism", "6"),
            Err("\"6\" is not a number from 1 to 5".into())
        );
        assert!(
            check_answer("nope", "x")
                .unwrap_err()
                .starts_with("no question")
        );
    }

    #[test]
    fn no_scenario_may_use_the_questionnaires_id() {
        let text = crate::exercise::SHIPPED_SCENARIOS[3]
            .1
            .replace("id = \"hmi-tampered\"", "id = \"lessons-learned\"")
            .replace("inject = \"hmi-tampered\"", "inject = \"lessons-learned\"");
        let e = crate::exercise::Scenario::from_toml(&text).unwrap_err();
        assert!(e.message.contains("kept for the lessons-learned"), "{e}");
    }
}
