//! `gatehouse-ops smoke --base-url <URL> ...`: the main flows against a
//! deployment (see `smoke`).
//!
//! `gatehouse-ops policies list|remove ...`: the break-glass way to the stored
//! Cedar policies (see `policies`).
//!
//! `gatehouse-ops redrive --from <dead-letter queue URL> --to <queue URL> [--max N]`
//!
//! Moves messages from a dead-letter queue back to the queue they came from
//! (what SQS's own `start-message-move-task` does on AWS, which the local
//! emulator lacks): each message is sent to the queue, then deleted from the
//! dead-letter queue, so a failure half-way leaves it in one of them, never
//! in neither. A redelivered message is harmless: deliveries are idempotent.
//! The SDK's usual configuration applies (credentials, region, and
//! `AWS_ENDPOINT_URL` for the local stack's emulator).

mod policies;
mod smoke;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use std::process::ExitCode;

struct Redrive {
    from: String,
    to: String,
    max: usize,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: gatehouse-ops redrive --from <dead-letter queue URL> --to <queue URL> [--max N]\n{}\n{}",
        smoke::usage(),
        policies::usage()
    );
    ExitCode::from(2)
}

fn parse(args: &[String]) -> Option<Redrive> {
    let (command, rest) = args.split_first()?;
    if command != "redrive" {
        return None;
    }
    let mut redrive = Redrive {
        from: String::new(),
        to: String::new(),
        max: usize::MAX,
    };
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it.next()?;
        match flag.as_str() {
            "--from" => redrive.from = value.clone(),
            "--to" => redrive.to = value.clone(),
            "--max" => redrive.max = value.parse().ok()?,
            _ => return None,
        }
    }
    (!redrive.from.is_empty() && !redrive.to.is_empty()).then_some(redrive)
}

async fn run(redrive: Redrive) -> Result<usize, Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut moved = 0;
    while moved < redrive.max {
        let want = (redrive.max - moved).min(10) as i32;
        let received = sqs
            .receive_message()
            .queue_url(&redrive.from)
            .max_number_of_messages(want)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await?;
        let messages = received.messages();
        if messages.is_empty() {
            break;
        }
        let mut entries = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(message.body().unwrap_or_default())
                    .set_message_attributes(message.message_attributes().cloned())
                    .build()?,
            );
        }
        let sent = sqs
            .send_message_batch()
            .queue_url(&redrive.to)
            .set_entries(Some(entries))
            .send()
            .await?;
        // Only what reached the queue leaves the dead-letter queue.
        let mut deletes = Vec::new();
        for ok in sent.successful() {
            let Some(message) = ok.id().parse::<usize>().ok().and_then(|i| messages.get(i)) else {
                continue;
            };
            deletes.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(ok.id())
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .build()?,
            );
        }
        for failed in sent.failed() {
            eprintln!(
                "not moved (stays in the dead-letter queue): {}",
                failed.code()
            );
        }
        if deletes.is_empty() {
            break;
        }
        moved += deletes.len();
        sqs.delete_message_batch()
            .queue_url(&redrive.from)
            .set_entries(Some(deletes))
            .send()
            .await?;
    }
    Ok(moved)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("smoke") {
        let secret = std::env::var("GATEHOUSE_SMOKE_CLIENT_SECRET").ok();
        return match smoke::parse(&args[1..], secret) {
            Err(why) => {
                eprintln!("{why}\n{}", smoke::usage());
                ExitCode::from(2)
            }
            Ok(options) => match smoke::run(options).await {
                Ok(()) => {
                    println!("smoke test passed");
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("smoke test failed: {why}");
                    ExitCode::FAILURE
                }
            },
        };
    }
    if args.first().map(String::as_str) == Some("policies") {
        let Some(command) = policies::parse(&args) else {
            return usage();
        };
        return match policies::run(command).await {
            Ok(said) => {
                print!("{said}");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("policies: {why}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(redrive) = parse(&args) else {
        return usage();
    };
    match run(redrive).await {
        Ok(moved) => {
            println!("moved {moved} message(s) back to the queue");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("redrive failed: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_command_line_names_both_queues() {
        let parsed = parse(&args("redrive --from d --to q --max 3")).unwrap();
        assert_eq!(
            (parsed.from.as_str(), parsed.to.as_str(), parsed.max),
            ("d", "q", 3)
        );
        assert!(parse(&args("redrive --from d")).is_none());
        assert!(parse(&args("drain --from d --to q")).is_none());
        assert!(parse(&args("redrive --from d --to q --max many")).is_none());
    }
}
