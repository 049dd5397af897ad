//! The silence model (`silence/silence.go`, API v2 `postableSilence`): no
//! storage yet, only state at a given instant and muting.

use chrono::{DateTime, Utc};

use crate::dispatch::matcher::{matches_all, ApiMatcher, LabelSet, Matcher, MatcherError};

/// A silence's state at an instant (Alertmanager's `CalcSilenceState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SilenceState {
    /// `now < starts_at`.
    Pending,
    /// `starts_at <= now < ends_at`.
    Active,
    /// `now >= ends_at`.
    Expired,
}

impl SilenceState {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub updated_at: DateTime<Utc>,
}

/// Why a silence is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("invalid label matcher {index}: {source}")]
    Matcher {
        index: usize,
        #[source]
        source: MatcherError,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Silence {
    /// Builds a silence from API-form matchers and validates it.
    #[allow(clippy::too_many_arguments)]
    pub fn from_api(
        id: impl Into<String>,
        matchers: &[ApiMatcher],
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        created_by: impl Into<String>,
        comment: impl Into<String>,
        updated_at: DateTime<Utc>,
    ) -> Result<Silence, SilenceError> {
        let matchers = matchers
            .iter()
            .enumerate()
            .map(|(index, m)| {
                Matcher::from_api(m).map_err(|source| SilenceError::Matcher { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let s = Silence {
            id: id.into(),
            matchers,
            starts_at,
            ends_at,
            created_by: created_by.into(),
            comment: comment.into(),
            updated_at,
        };
        s.validate()?;
        Ok(s)
    }

    /// Alertmanager's `validateSilence` (minus the zero-timestamp checks,
    /// which a `DateTime` cannot fail). An empty id is allowed here: the
    /// store assigns one to a new silence.
    pub fn validate(&self) -> Result<(), SilenceError> {
        if self.matchers.is_empty() {
            return Err(SilenceError::Invalid(
                "at least one matcher required".into(),
            ));
        }
        if self.matchers.iter().all(|m| m.matches_value("")) {
            return Err(SilenceError::Invalid(
                "at least one matcher must not match the empty string".into(),
            ));
        }
        if self.ends_at < self.starts_at {
            return Err(SilenceError::Invalid(
                "end time must not be before start time".into(),
            ));
        }
        Ok(())
    }

    /// The state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether the silence mutes `labels` at `now`: it is active and every
    /// matcher matches (absent label = `""`).
    pub fn mutes(&self, labels: &LabelSet, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active && matches_all(&self.matchers, labels)
    }
}

/// The ids of the silences that mute `labels` at `now`.
pub fn silenced_by<'a>(
    silences: &'a [Silence],
    labels: &LabelSet,
    now: DateTime<Utc>,
) -> Vec<&'a str> {
    silences
        .iter()
        .filter(|s| s.mutes(labels, now))
        .map(|s| s.id.as_str())
        .collect()
}
