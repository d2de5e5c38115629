//! `create job NAME --from=cronjob/CJ | --image IMG [-- CMD...]`: the Job kubectl's
//! `create job` makes (from a CronJob: `nodelet_objects::controllers::cronjob::
//! job_from_cronjob`, kubectl's `createJobFromCronJob`), created through the API.

use anyhow::bail;
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nodelet_api::Client;

/// Where the Job's spec comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSource {
    /// The job template of this CronJob.
    CronJob(String),
    /// One container of this image running this command.
    Image { image: String, command: Vec<String> },
}

impl JobSource {
    /// kubectl's checks of `--from`, `--image` and the command.
    pub fn of(
        from: Option<&str>,
        image: Option<&str>,
        command: Vec<String>,
    ) -> anyhow::Result<JobSource> {
        match (from, image) {
            (Some(_), Some(_)) | (None, None) => {
                bail!("either --image or --from must be specified")
            }
            (Some(_), None) if !command.is_empty() => bail!("cannot specify --from and command"),
            (Some(f), None) => {
                let (ty, name) = f.split_once('/').unwrap_or(("", f));
                let ty = ty.strip_suffix(".batch").unwrap_or(ty);
                if !matches!(ty, "cronjob" | "cronjobs" | "cj") || name.is_empty() {
                    bail!("from must be an existing cronjob");
                }
                Ok(JobSource::CronJob(name.to_string()))
            }
            (None, Some(i)) => Ok(JobSource::Image {
                image: i.to_string(),
                command,
            }),
        }
    }
}

/// The Job `create job NAME --image IMG -- CMD` makes (kubectl's `createJob`).
fn job_of_image(name: &str, image: &str, command: Vec<String>) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: name.to_string(),
                        image: Some(image.to_string()),
                        command: (!command.is_empty()).then_some(command),
                        ..Default::default()
                    }],
                    restart_policy: Some("Never".into()),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// Creates the Job and prints `job.batch/NAME created`.
pub async fn job(client: &Client, ns: &str, name: &str, how: JobSource) -> anyhow::Result<()> {
    let mut job = match how {
        JobSource::CronJob(cj) => {
            let cj: CronJob = client.object(ns, &cj).await?;
            nodelet_objects::controllers::cronjob::job_from_cronjob(&cj, name)
        }
        JobSource::Image { image, command } => job_of_image(name, &image, command),
    };
    job.metadata.namespace = Some(ns.to_string());
    client.create_object(ns, &job).await?;
    println!("job.batch/{name} created");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_as_kubectl_checks_them() {
        assert_eq!(
            JobSource::of(Some("cronjob/hello"), None, vec![]).unwrap(),
            JobSource::CronJob("hello".into())
        );
        assert_eq!(
            JobSource::of(Some("cj/hello"), None, vec![]).unwrap(),
            JobSource::CronJob("hello".into())
        );
        for (from, image, cmd, err) in [
            (
                None,
                None,
                vec![],
                "either --image or --from must be specified",
            ),
            (
                Some("cronjob/a"),
                Some("i"),
                vec![],
                "either --image or --from must be specified",
            ),
            (
                Some("cronjob/a"),
                None,
                vec!["x".to_string()],
                "cannot specify --from and command",
            ),
            (
                Some("deployment/a"),
                None,
                vec![],
                "from must be an existing cronjob",
            ),
        ] {
            assert_eq!(
                JobSource::of(from, image, cmd).unwrap_err().to_string(),
                err
            );
        }
        let j = job_of_image("once", "busybox", vec!["true".into()]);
        let spec = j.spec.unwrap().template.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.containers[0].name, "once");
        assert_eq!(spec.containers[0].command, Some(vec!["true".to_string()]));
    }
}
