//! `openclaw-livestatus upload --test`: one status upload now, and what the server answered.

use std::process::ExitCode;

use super::UploadArgs;
use crate::api::{upload_doc, uploader};

pub fn upload(args: UploadArgs) -> anyhow::Result<ExitCode> {
    let (config, warnings) = super::settings::load(&args.follow)?;
    for w in warnings.into_vec() {
        eprintln!("warning: {w}");
    }
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let mut targets = Vec::new();
    if let Some(url) = &config.uploader.url {
        match config
            .uploader
            .read_token(credentials.as_deref(), &crate::service::config::process_env)?
        {
            Some(token) => targets.push((url.clone(), token)),
            None => anyhow::bail!(
                "uploader.url is set but there is no token for it: set uploader.token_file, the \
                 `{}` systemd credential, or {}",
                crate::service::config::UPLOADER_TOKEN_CREDENTIAL,
                crate::service::config::MONITOR_TOKEN_ENV
            ),
        }
    }
    for gateway in &config.watch.gateways {
        if let Some(found) = uploader::monitor_credentials(gateway) {
            targets.push(found);
        }
    }
    if targets.is_empty() {
        anyhow::bail!(
            "nothing to upload to: set uploader.url (and its token), or name a gateway with \
             --gateway whose owner has {}",
            uploader::MONITOR_FILE
        );
    }
    let runtime = crate::service::runtime::runtime()?;
    let mut all_ok = true;
    runtime.block_on(async {
        let http = uploader::http_client()?;
        for (url, token) in &targets {
            let body = upload_doc::document(&[], None, crate::clock::now_ms(), true);
            let result = uploader::post(&http, url, token, &body).await;
            let status = result
                .status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
            println!("{url}: {} ({status})", result.message);
            all_ok &= result.ok;
        }
        anyhow::Ok(())
    })?;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
