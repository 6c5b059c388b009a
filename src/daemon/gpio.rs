//! The exam room's physical controls: an optional exam button and an optional status LED on GPIO
//! lines (Linux GPIO character device via linux-embedded-hal's `CdevPin`).
//!
//! - Button: a short press starts an exam (or ends the running one); holding it for
//!   `gpio.long_press_s` captures the neutral pose (fires while still held, so the clinician
//!   knows when to let go). Debounced: a level counts only after it has been stable for
//!   `gpio.debounce_ms`.
//! - LED: steady while an exam is measuring, blinking (2 Hz) when the face is lost during an
//!   exam or the camera is offline, off when idle.
//!
//! The logic ([`ButtonLogic`], [`led_mode`]) is pure and works on the [`InputLine`] /
//! [`OutputLine`] traits, so it is tested with a test double; only [`CdevInput`] and
//! [`CdevOutput`] touch the kernel. Without a `[gpio]` table nothing here runs.

use crate::config::{GpioLine, GpioSettings};
use crate::protocol::{Command, Origin};
use embedded_hal::digital::{InputPin, OutputPin};
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::CdevPin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A digital input; `true` = active (pressed), active-low already accounted for.
pub trait InputLine: Send {
    fn read(&mut self) -> Result<bool, String>;
}

/// A digital output; `true` = on.
pub trait OutputLine: Send {
    fn set(&mut self, on: bool) -> Result<(), String>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonEvent {
    /// Released before the long-press time.
    Short,
    /// Held for the long-press time (fires once per press, while held).
    Long,
}

/// Debounce and short/long press detection on sampled levels.
#[derive(Debug)]
pub struct ButtonLogic {
    debounce: Duration,
    long_press: Duration,
    /// Debounced level.
    stable: bool,
    /// Raw level seen last and since when.
    raw: bool,
    raw_since: Duration,
    pressed_at: Option<Duration>,
    long_fired: bool,
}

impl ButtonLogic {
    pub fn new(debounce: Duration, long_press: Duration) -> Self {
        ButtonLogic {
            debounce,
            long_press,
            stable: false,
            raw: false,
            raw_since: Duration::ZERO,
            pressed_at: None,
            long_fired: false,
        }
    }

    /// Feed one sample taken at `now` (any monotonic time base).
    pub fn update(&mut self, level: bool, now: Duration) -> Option<ButtonEvent> {
        if level != self.raw {
            self.raw = level;
            self.raw_since = now;
        }
        if self.raw != self.stable && now.saturating_sub(self.raw_since) >= self.debounce {
            self.stable = self.raw;
            if self.stable {
                // The press began when the level first went active, not when it was confirmed.
                self.pressed_at = Some(self.raw_since);
                self.long_fired = false;
            } else {
                let was_long = self.long_fired;
                self.pressed_at = None;
                if !was_long {
                    return Some(ButtonEvent::Short);
                }
            }
        }
        if let Some(at) = self.pressed_at {
            if self.stable && !self.long_fired && now.saturating_sub(at) >= self.long_press {
                self.long_fired = true;
                return Some(ButtonEvent::Long);
            }
        }
        None
    }
}

/// What the daemon loop shares with the LED (and anything else watching it).
#[derive(Debug, Default)]
pub struct LiveStatus {
    pub exam_running: AtomicBool,
    /// A good face measurement within the last second.
    pub face_ok: AtomicBool,
    /// False while a lost camera is being reopened.
    pub camera_offline: AtomicBool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedMode {
    Off,
    Steady,
    Blink,
}

/// The LED's meaning, in one place.
pub fn led_mode(exam_running: bool, face_ok: bool, camera_online: bool) -> LedMode {
    if !camera_online {
        LedMode::Blink
    } else if !exam_running {
        LedMode::Off
    } else if face_ok {
        LedMode::Steady
    } else {
        LedMode::Blink
    }
}

/// LED level at `now`: blinking is 2 Hz, half on.
pub fn led_level(mode: LedMode, now: Duration) -> bool {
    match mode {
        LedMode::Off => false,
        LedMode::Steady => true,
        LedMode::Blink => (now.as_millis() / 250).is_multiple_of(2),
    }
}

/// The command a button event means, given whether an exam is running.
pub fn command_for(ev: ButtonEvent, exam_running: bool) -> Command {
    match ev {
        ButtonEvent::Short if exam_running => Command::EndExam { by: Origin::Button },
        ButtonEvent::Short => Command::StartExam {
            id: None,
            by: Origin::Button,
        },
        ButtonEvent::Long => Command::CaptureNeutral,
    }
}

/// One step of the GPIO loop: sample the button, drive the LED. Split out so tests can step it
/// with a fake clock.
pub struct Panel {
    pub button: Option<(Box<dyn InputLine>, ButtonLogic)>,
    pub led: Option<Box<dyn OutputLine>>,
    led_on: Option<bool>,
    errors_logged: bool,
}

impl Panel {
    pub fn new(button: Option<(Box<dyn InputLine>, ButtonLogic)>, led: Option<Box<dyn OutputLine>>) -> Self {
        Panel {
            button,
            led,
            led_on: None,
            errors_logged: false,
        }
    }

    pub fn step(&mut self, now: Duration, status: &LiveStatus) -> Option<Command> {
        let exam_running = status.exam_running.load(Ordering::Relaxed);
        let mut cmd = None;
        if let Some((line, logic)) = self.button.as_mut() {
            match line.read() {
                Ok(level) => {
                    cmd = logic.update(level, now).map(|ev| {
                        log::info!("exam button: {ev:?} press");
                        command_for(ev, exam_running)
                    })
                }
                Err(e) => self.log_once(format!("cannot read the exam button: {e}")),
            }
        }
        if let Some(led) = self.led.as_mut() {
            let mode = led_mode(
                exam_running,
                status.face_ok.load(Ordering::Relaxed),
                !status.camera_offline.load(Ordering::Relaxed),
            );
            let on = led_level(mode, now);
            if self.led_on != Some(on) {
                match led.set(on) {
                    Ok(()) => self.led_on = Some(on),
                    Err(e) => self.log_once(format!("cannot set the status LED: {e}")),
                }
            }
        }
        cmd
    }

    fn log_once(&mut self, msg: String) {
        if !self.errors_logged {
            log::error!("{msg}");
            self.errors_logged = true;
        }
    }

    /// Leave the LED off when the daemon stops.
    pub fn shutdown(&mut self) {
        if let Some(led) = self.led.as_mut() {
            let _ = led.set(false);
        }
    }
}

/// A line on a GPIO character device.
pub struct CdevInput(CdevPin);
pub struct CdevOutput(CdevPin);

impl InputLine for CdevInput {
    fn read(&mut self) -> Result<bool, String> {
        self.0.is_high().map_err(|e| e.to_string())
    }
}

impl OutputLine for CdevOutput {
    fn set(&mut self, on: bool) -> Result<(), String> {
        if on { self.0.set_high() } else { self.0.set_low() }.map_err(|e| e.to_string())
    }
}

fn request(chip: &mut Chip, settings: &GpioSettings, line: GpioLine, output: bool) -> Result<CdevPin, String> {
    let what = if output { "status LED" } else { "exam button" };
    let err = |e: &dyn std::fmt::Display| {
        format!(
            "GPIO {} line {} ({what}): {e}; check gpio.{} (`gpioinfo` lists the lines)",
            settings.chip.display(),
            line.offset,
            if output { "led_line" } else { "button_line" }
        )
    };
    let handle = chip.get_line(line.offset).map_err(|e| err(&e))?;
    let mut flags = if output {
        LineRequestFlags::OUTPUT
    } else {
        LineRequestFlags::INPUT
    };
    if line.active_low {
        flags |= LineRequestFlags::ACTIVE_LOW;
    }
    let handle = handle.request(flags, 0, "cdposture").map_err(|e| err(&e))?;
    CdevPin::new(handle).map_err(|e| err(&e))
}

/// Open the configured lines. Errors name the chip, the line and the config key.
pub fn open_panel(settings: &GpioSettings) -> Result<Panel, String> {
    let mut chip = Chip::new(&settings.chip).map_err(|e| {
        format!(
            "GPIO chip {}: {e}; check gpio.chip (ls /dev/gpiochip*) and that the user may use it",
            settings.chip.display()
        )
    })?;
    let button = match settings.button {
        Some(line) => Some((
            Box::new(CdevInput(request(&mut chip, settings, line, false)?)) as Box<dyn InputLine>,
            ButtonLogic::new(settings.debounce, settings.long_press),
        )),
        None => None,
    };
    let led = match settings.led {
        Some(line) => Some(Box::new(CdevOutput(request(&mut chip, settings, line, true)?)) as Box<dyn OutputLine>),
        None => None,
    };
    Ok(Panel::new(button, led))
}

/// Runs the panel every 5 ms on its own thread until `stop`.
pub struct PanelThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl PanelThread {
    pub fn start(mut panel: Panel, status: Arc<LiveStatus>, commands: Sender<Command>) -> std::io::Result<PanelThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let handle = std::thread::Builder::new().name("gpio".into()).spawn(move || {
            let t0 = Instant::now();
            while !st.load(Ordering::Relaxed) {
                if let Some(cmd) = panel.step(t0.elapsed(), &status) {
                    let _ = commands.send(cmd);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            panel.shutdown();
        })?;
        Ok(PanelThread {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for PanelThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const MS: Duration = Duration::from_millis(1);

    /// Drive a logic with (level, duration-in-ms) segments sampled every 5 ms; collect events with times.
    fn run(logic: &mut ButtonLogic, segments: &[(bool, u64)]) -> Vec<(ButtonEvent, u64)> {
        let mut t = 0;
        let mut out = Vec::new();
        for &(level, ms) in segments {
            let end = t + ms;
            while t < end {
                if let Some(ev) = logic.update(level, Duration::from_millis(t)) {
                    out.push((ev, t));
                }
                t += 5;
            }
        }
        out
    }

    fn logic() -> ButtonLogic {
        ButtonLogic::new(30 * MS, 2000 * MS)
    }

    #[test]
    fn short_press_fires_on_release() {
        let ev = run(&mut logic(), &[(false, 100), (true, 300), (false, 200)]);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].0, ButtonEvent::Short);
        assert!((400..=440).contains(&ev[0].1), "released at 400 ms + debounce: {ev:?}");
    }

    #[test]
    fn bounces_are_ignored() {
        // Contact bounce: 10 ms flickers never last the 30 ms debounce.
        let mut segs = vec![(false, 100)];
        for _ in 0..5 {
            segs.push((true, 10));
            segs.push((false, 10));
        }
        segs.push((false, 300));
        assert!(run(&mut logic(), &segs).is_empty());
        // A press with bouncy edges is still exactly one press.
        let mut segs = vec![(false, 100), (true, 10), (false, 5), (true, 400)];
        segs.extend([(false, 10), (true, 5), (false, 300)]);
        let ev = run(&mut logic(), &segs);
        assert_eq!(ev.iter().map(|e| e.0).collect::<Vec<_>>(), vec![ButtonEvent::Short]);
    }

    #[test]
    fn long_press_fires_once_while_held_and_not_again_on_release() {
        let ev = run(&mut logic(), &[(false, 100), (true, 3500), (false, 300)]);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].0, ButtonEvent::Long);
        assert!((2100..=2140).contains(&ev[0].1), "2 s after the press began: {ev:?}");
        // Two presses in a row are two events.
        let ev = run(&mut logic(), &[(true, 200), (false, 200), (true, 200), (false, 200)]);
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn button_toggles_the_exam_and_long_press_captures_neutral() {
        assert_eq!(
            command_for(ButtonEvent::Short, false),
            Command::StartExam {
                id: None,
                by: Origin::Button
            }
        );
        assert_eq!(
            command_for(ButtonEvent::Short, true),
            Command::EndExam { by: Origin::Button }
        );
        assert_eq!(command_for(ButtonEvent::Long, true), Command::CaptureNeutral);
        assert_eq!(command_for(ButtonEvent::Long, false), Command::CaptureNeutral);
    }

    #[test]
    fn led_modes() {
        assert_eq!(led_mode(false, false, true), LedMode::Off);
        assert_eq!(led_mode(false, true, true), LedMode::Off);
        assert_eq!(led_mode(true, true, true), LedMode::Steady);
        assert_eq!(led_mode(true, false, true), LedMode::Blink);
        assert_eq!(led_mode(false, true, false), LedMode::Blink);
        assert_eq!(led_mode(true, true, false), LedMode::Blink);
        let levels: Vec<bool> = (0..8).map(|i| led_level(LedMode::Blink, i * 125 * MS)).collect();
        assert_eq!(levels, [true, true, false, false, true, true, false, false]);
        assert!(!led_level(LedMode::Off, 100 * MS) && led_level(LedMode::Steady, 300 * MS));
    }

    /// Test doubles: a button whose level the test sets, an LED that records its changes.
    #[derive(Clone, Default)]
    struct FakeButton(Arc<Mutex<bool>>);
    impl InputLine for FakeButton {
        fn read(&mut self) -> Result<bool, String> {
            Ok(*self.0.lock().unwrap())
        }
    }
    #[derive(Clone, Default)]
    struct FakeLed(Arc<Mutex<Vec<(Duration, bool)>>>, Arc<Mutex<Duration>>);
    impl OutputLine for FakeLed {
        fn set(&mut self, on: bool) -> Result<(), String> {
            let now = *self.1.lock().unwrap();
            self.0.lock().unwrap().push((now, on));
            Ok(())
        }
    }
    struct BrokenLine;
    impl InputLine for BrokenLine {
        fn read(&mut self) -> Result<bool, String> {
            Err("line gone".into())
        }
    }

    #[test]
    fn panel_sends_commands_and_drives_the_led() {
        let button = FakeButton::default();
        let led = FakeLed::default();
        let mut panel = Panel::new(Some((Box::new(button.clone()), logic())), Some(Box::new(led.clone())));
        let status = LiveStatus::default();
        let mut commands = Vec::new();
        let mut step = |t: u64, panel: &mut Panel, status: &LiveStatus| {
            *led.1.lock().unwrap() = Duration::from_millis(t);
            if let Some(c) = panel.step(Duration::from_millis(t), status) {
                commands.push((t, c));
            }
        };
        // Idle: LED off. Press briefly: an exam starts.
        for t in (0..100).step_by(5) {
            step(t, &mut panel, &status);
        }
        *button.0.lock().unwrap() = true;
        for t in (100..300).step_by(5) {
            step(t, &mut panel, &status);
        }
        *button.0.lock().unwrap() = false;
        for t in (300..400).step_by(5) {
            step(t, &mut panel, &status);
        }
        // The daemon reports the exam running with a face: LED steady.
        status.exam_running.store(true, Ordering::Relaxed);
        status.face_ok.store(true, Ordering::Relaxed);
        for t in (400..1000).step_by(5) {
            step(t, &mut panel, &status);
        }
        // Face lost: blinking.
        status.face_ok.store(false, Ordering::Relaxed);
        for t in (1000..2000).step_by(5) {
            step(t, &mut panel, &status);
        }
        // Short press again: the exam ends.
        *button.0.lock().unwrap() = true;
        for t in (2000..2100).step_by(5) {
            step(t, &mut panel, &status);
        }
        *button.0.lock().unwrap() = false;
        for t in (2100..2200).step_by(5) {
            step(t, &mut panel, &status);
        }
        let cmds: Vec<&Command> = commands.iter().map(|(_, c)| c).collect();
        assert_eq!(
            cmds,
            vec![
                &Command::StartExam {
                    id: None,
                    by: Origin::Button
                },
                &Command::EndExam { by: Origin::Button }
            ]
        );
        let changes = led.0.lock().unwrap().clone();
        assert_eq!(changes[0], (Duration::ZERO, false), "off while idle");
        assert!(
            changes.contains(&(400 * MS, true)),
            "steady from the exam on: {changes:?}"
        );
        let blinking: Vec<_> = changes
            .iter()
            .filter(|(t, _)| (1000 * MS..2000 * MS).contains(t))
            .collect();
        assert!(blinking.len() >= 3, "2 Hz for a second = 4 edges: {blinking:?}");
        panel.shutdown();
        assert_eq!(
            led.0.lock().unwrap().last().map(|c| c.1),
            Some(false),
            "off at shutdown"
        );
    }

    #[test]
    fn a_failing_line_is_logged_not_fatal() {
        let mut panel = Panel::new(Some((Box::new(BrokenLine), logic())), None);
        let status = LiveStatus::default();
        for t in 0..10 {
            assert!(panel.step(t * 5 * MS, &status).is_none());
        }
    }

    #[test]
    fn a_missing_chip_names_the_chip_and_the_key() {
        let settings = GpioSettings {
            chip: "/dev/gpiochip-does-not-exist".into(),
            button: Some(GpioLine {
                offset: 17,
                active_low: true,
            }),
            led: None,
            debounce: 30 * MS,
            long_press: 2000 * MS,
        };
        let e = open_panel(&settings).err().expect("no such chip");
        assert!(
            e.contains("/dev/gpiochip-does-not-exist") && e.contains("gpio.chip"),
            "{e}"
        );
    }
}
