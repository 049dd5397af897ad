//! The promqltest script language.
