//! The notification side: alerts as Alertmanager holds them ([`alert`]),
//! the store of known alerts with Alertmanager's merge rule and the parsing
//! of `POST /api/v2/alerts` ([`store`]), and what receivers send
//! ([`webhook`]'s version-4 payload); the pipeline of stages
//! ([`pipeline`]), the notification log ([`nflog`]) and its file
//! ([`nflog_file`]); delivery with retries ([`deliver`]) and email
//! ([`email`]).

pub mod alert;
pub mod deliver;
pub mod email;
pub mod nflog;
pub mod nflog_file;
pub mod pipeline;
pub mod store;
pub mod webhook;
