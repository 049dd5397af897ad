//! The notification side: alerts as Alertmanager holds them ([`alert`])
//! and what receivers send ([`webhook`]'s version-4 payload). Delivery,
//! retries and the email receiver come next.

pub mod alert;
pub mod webhook;
