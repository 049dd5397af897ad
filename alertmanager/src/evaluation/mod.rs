//! Rule evaluation: the alerting rule state machine ([`alerting`]),
//! recording rules ([`recording`]) and a group's evaluation at one instant
//! ([`group`]: appends, staleness, alerts due to be sent), and their state
//! in Prometheus' API shapes ([`status`]), all driven with
//! an injected time so tests need no clock. Scheduling, `ALERTS_FOR_STATE`
//! restore and the wiring into `vigil serve` come next.

pub mod alerting;
pub mod group;
pub mod manager;
pub mod recording;
pub mod status;
