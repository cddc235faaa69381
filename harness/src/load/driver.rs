//! The choice of driver for a load model: the top of `load`, which only dispatches to
//! the open and the closed driver (what they share is in [`super::drive_common`]).

use super::closed::{Users, run_closed};
use super::drive_common::Drive;
use super::open::run_open;
use super::schedule::RateCurve;
use crate::outcome::DriverReport;
use crate::scenario::LoadModel;

/// Drives the flows as the load model says, until done or the stop signal fires.
pub async fn drive(drive: Drive) -> DriverReport {
    match drive.load.model.clone() {
        LoadModel::Open {
            rate,
            stages,
            spacing,
        } => run_open(drive, RateCurve::new(rate, &stages), spacing).await,
        LoadModel::Closed {
            users,
            think_time,
            ramp_up_rate,
        } => {
            run_closed(
                drive,
                Users {
                    count: users,
                    think_time,
                    ramp_up_rate,
                },
            )
            .await
        }
    }
}
