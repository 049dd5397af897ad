//! Rule evaluation: the alerting rule state machine ([`alerting`]),
//! recording rules ([`recording`]) and a group's evaluation at one instant
//! ([`group`]: appends, staleness, alerts due to be sent), and their state
//! in Prometheus' API shapes ([`status`]), and the rule manager that
//! schedules groups and restores `for` state from `ALERTS_FOR_STATE`
//! ([`manager`]), all driven with an injected time so tests need no clock.

pub mod alerting;
pub mod group;
pub mod manager;
pub mod recording;
pub mod status;
