"""Voice prompts, in Mandarin then English, generated with espeak-ng at setup.

Each prompt is spoken by espeak-ng (``-v cmn`` and ``-v en``), joined and converted by sox to
what Asterisk plays without transcoding cost (8 kHz, 16-bit, mono WAV). Results are cached
by their text, so a prompt is generated once per machine.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from hotline.system import ensure_packages
from queues.announcements import POSITION_PROMPTS, position_prompt

PROMPTS: dict[str, tuple[str, str]] = {
    "menu": (
        "企业事项请按2，其他事项请按1。",
        "For business matters, press 2. Otherwise, press 1.",
    ),
    "company-number": (
        "请输入企业登记电话，按井号键结束。",
        "Enter your company's registered phone number, then the hash key.",
    ),
    "company-not-found": ("未找到该号码登记的企业。", "No company is registered with that number."),
    "company-found": ("谢谢，请稍候。", "Thank you, please hold."),
    "recording-notice": ("您的通话可能会被录音。", "This call may be recorded."),
    "seat-done": ("好的。", "Done."),
    "max-wait": (
        "坐席繁忙。我们已记录您的来电，稍后将给您回电。",
        "All our agents are busy. We have noted your call and will call you back.",
    ),
    "moving": (
        "正在为您转接企业服务专席，请稍候。",
        "Transferring you to the enterprise service line. Please hold.",
    ),
    "transfer-failed": (
        "相关部门暂时无法接通，已为您登记工单，部门将在二十四个工作小时内答复。",
        "The department cannot be reached now. A work order has been made; "
        "the department will answer within twenty-four working hours.",
    ),
    "department-closed": (
        "相关部门现在不在工作时间，已为您登记工单，部门将在二十四个工作小时内答复。",
        "The department is closed now. A work order has been made; "
        "the department will answer within twenty-four working hours.",
    ),
    "closed": (
        "企业服务专线现在不在服务时间。我们已记录您的来电，将在服务时间内回电。",
        "The enterprise line is closed now. We have noted your call, "
        "and will call you back when we open.",
    ),
    "callback-noted": (
        "好的，我们将按您的排队顺序给您回电，再见。",
        "Thank you. We will call you back in your turn. Goodbye.",
    ),
    "max-wait-call-again": (
        "坐席繁忙，请稍后再拨。",
        "All our agents are busy. Please call again later.",
    ),
    "closed-call-again": (
        "企业服务专线现在不在服务时间，请在服务时间内再拨。",
        "The enterprise line is closed now. Please call again when it is open.",
    ),
    "survey": (
        "请评价：满意按1，基本满意按2，不满意按3。",
        "Rate us: 1 satisfied, 2 basically satisfied, 3 not satisfied.",
    ),
    "survey-thanks": ("谢谢，再见。", "Thank you. Goodbye."),
    "visit-greeting": (
        "您好，这里是12345企业服务专线，就您反映的问题进行回访。",
        "Hello, this is the 12345 enterprise line, following up on your request.",
    ),
    "visit-responded": (
        "您反映的问题是否得到了答复？是请按1，否请按2。",
        "Did the department answer you? Press 1 for yes, 2 for no.",
    ),
    "visit-resolved": (
        "问题是否已经解决？已解决请按1，未解决请按2。",
        "Is the problem resolved? Press 1 for yes, 2 for no.",
    ),
    "visit-satisfied": (
        "您对处理结果是否满意？满意请按1，基本满意请按2，不满意请按3。",
        "Are you satisfied with the result? 1 satisfied, 2 basically satisfied, 3 dissatisfied.",
    ),
    "visit-thanks": ("感谢您的配合，再见。", "Thank you for your time. Goodbye."),
}
"""Short on purpose: every second of prompt is a second the caller waits."""

_CHINESE_NUMBERS = "一二三四五六七八九"

for _ahead in range(POSITION_PROMPTS):
    if _ahead == 0:
        PROMPTS[position_prompt(0)] = ("您是下一位，请稍候。", "You are next in line. Please hold.")
    else:
        PROMPTS[position_prompt(_ahead)] = (
            f"您前面还有{_CHINESE_NUMBERS[_ahead - 1]}位来电，请稍候。",
            f"There {'is one caller' if _ahead == 1 else f'are {_ahead} callers'} ahead of you. "
            "Please hold.",
        )
PROMPTS[position_prompt(POSITION_PROMPTS)] = (
    "您前面还有十位以上来电，请稍候。",
    "There are more than ten callers ahead of you. Please hold.",
)
_CALLBACK_OFFER = (
    "按1挂机，保留排队顺序，我们将给您回电。",
    "Or press 1 to hang up and keep your place: we will call you back.",
)
for _ahead in range(POSITION_PROMPTS + 1):
    _mandarin, _english = PROMPTS[position_prompt(_ahead)]
    PROMPTS[position_prompt(_ahead, offer_callback=True)] = (
        _mandarin + _CALLBACK_OFFER[0],
        f"{_english} {_CALLBACK_OFFER[1]}",
    )


def _speak(text: str, voice: str, target: Path) -> None:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "175", "-w", str(target), text],
        check=True,
        capture_output=True,
    )


def generate(name: str, cache: Path) -> Path:
    """The cached WAV for a prompt, generating it if needed."""
    mandarin, english = PROMPTS[name]
    digest = hashlib.sha1(f"{mandarin}|{english}|v2".encode()).hexdigest()[:12]
    cached = cache / f"{name}-{digest}.wav"
    if cached.exists():
        return cached
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        ensure_packages("espeak-ng", "sox")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        zh, en = Path(work) / "zh.wav", Path(work) / "en.wav"
        _speak(mandarin, "cmn", zh)
        _speak(english, "en", en)
        partial = cached.with_suffix(".partial.wav")
        subprocess.run(
            [
                "sox",
                str(zh),
                str(en),
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                str(partial),
                "tempo",
                "1.2",
            ],
            check=True,
            capture_output=True,
        )
        partial.rename(cached)
    return cached


def install(sounds_dir: Path, cache: Path) -> list[Path]:
    """Put every prompt into ``sounds_dir`` (where Asterisk plays them from)."""
    sounds_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    for name in PROMPTS:
        target = sounds_dir / f"{name}.wav"
        shutil.copyfile(generate(name, cache), target)
        installed.append(target)
    return installed
