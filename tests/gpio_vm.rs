//! The exam button and status LED on a real GPIO chip: the ARM PL061 controller of QEMU's `virt`
//! machine, driven by the stock Debian arm64 kernel, booted by `tests/vivid/run.sh arm64`. The
//! button is the PL061's line 3, which QEMU pulses high for 100 ms on the monitor's
//! `system_powerdown` (its "power button"; the kernel's gpio-keys driver, a module, is not loaded,
//! so the line is free): the script presses it when this test prints `GPIO-PRESS n`. The LED is
//! line 0; its level is read back from the kernel's own view (debugfs), not from our code.
//!
//! Ignored in a plain `cargo test` (no such chip here).

use cdposture::config::{GpioLine, GpioSettings};
use cdposture::daemon::gpio::{open_panel, LiveStatus, PanelThread};
use cdposture::protocol::Command;
use linux_embedded_hal::gpio_cdev::Chip;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn pl061() -> PathBuf {
    let mut chips: Vec<PathBuf> = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("gpiochip"))
        .collect();
    chips.sort();
    for c in &chips {
        let chip = Chip::new(c).unwrap();
        println!(
            "GPIO-CHIP {} label {:?} lines {}",
            c.display(),
            chip.label(),
            chip.num_lines()
        );
        if chip.label().contains("pl061") {
            return c.clone();
        }
    }
    panic!("no PL061 among {chips:?}")
}

/// The LED line's level as the kernel reports it: the `cdposture` output line in debugfs.
fn led_is_on() -> bool {
    let text = std::fs::read_to_string("/sys/kernel/debug/gpio").expect("debugfs mounted by the VM's init");
    let line = text
        .lines()
        .find(|l| l.contains("cdposture") && l.contains(" out "))
        .unwrap_or_else(|| panic!("no cdposture output line in:\n{text}"));
    line.contains(" out hi")
}

fn press(n: u32, rx: &std::sync::mpsc::Receiver<Command>) -> Command {
    // The script watching the console presses the button on this line.
    println!("GPIO-PRESS {n}");
    rx.recv_timeout(Duration::from_secs(60))
        .expect("no command from the button press")
}

#[test]
#[ignore = "needs QEMU's PL061: run tests/vivid/run.sh arm64"]
fn exam_button_and_status_led_on_a_real_gpio_chip() {
    let chip = pl061();
    let settings = GpioSettings {
        chip: chip.clone(),
        button: Some(GpioLine {
            offset: 3,
            active_low: false,
        }),
        led: Some(GpioLine {
            offset: 0,
            active_low: false,
        }),
        debounce: Duration::from_millis(30),
        long_press: Duration::from_secs(2),
    };
    let status = Arc::new(LiveStatus::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let panel = PanelThread::start(open_panel(&settings).unwrap(), status.clone(), tx).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "GPIO-DEBUGFS\n{}",
        std::fs::read_to_string("/sys/kernel/debug/gpio").unwrap()
    );
    assert!(!led_is_on(), "idle: LED off");

    // Short press while idle: an exam starts.
    assert_eq!(
        press(1, &rx),
        Command::StartExam {
            id: None,
            by: cdposture::protocol::Origin::Button
        }
    );
    println!("GPIO-RESULT press 1 -> exam start");
    // The daemon now measures with a face: steady.
    status.exam_running.store(true, Ordering::Relaxed);
    status.face_ok.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(100));
    let steady: Vec<bool> = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            led_is_on()
        })
        .collect();
    assert!(steady.iter().all(|&on| on), "steady while measuring: {steady:?}");
    // Face lost: blinking at 2 Hz, so both levels within a second.
    status.face_ok.store(false, Ordering::Relaxed);
    let blink: Vec<bool> = (0..24)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            led_is_on()
        })
        .collect();
    let ons = blink.iter().filter(|&&on| on).count();
    println!(
        "GPIO-RESULT face lost: LED on in {ons} of {} samples over 1.2 s",
        blink.len()
    );
    assert!((6..=18).contains(&ons), "blinking: {blink:?}");

    // Short press during the exam: it ends.
    assert_eq!(
        press(2, &rx),
        Command::EndExam {
            by: cdposture::protocol::Origin::Button
        }
    );
    println!("GPIO-RESULT press 2 -> exam end");
    status.exam_running.store(false, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!led_is_on(), "idle again: LED off");
    drop(panel);

    // A line the chip does not have: the error names the chip, the line and the key.
    let bad = GpioSettings {
        led: Some(GpioLine {
            offset: 99,
            active_low: false,
        }),
        ..settings
    };
    let e = open_panel(&bad).err().expect("line 99 does not exist");
    println!("GPIO-ERROR {e}");
    assert!(
        e.contains(&chip.display().to_string()) && e.contains("line 99") && e.contains("gpio.led_line"),
        "{e}"
    );
}
