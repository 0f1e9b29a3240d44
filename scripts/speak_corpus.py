#!/usr/bin/env python3
"""The lip-sync's measuring corpus (docs/SPEAK.md): espeak-ng speech and espeak-ng's own
phoneme start times, through libespeak-ng (python3's ctypes; Debian libespeak-ng1).

  dev_V_T.wav/.phones   6 sentences x 3 voices (en-us 175, en 140, en-us+f3 200 words a
                        minute): what the recogniser's settings were chosen on; T 6-11: 6
                        more sentences rich in f/v, the same voices (the acoustic cues);
                        T 12-17: 6 rich in m and mb, the same voices; T 18-23: 6 with
                        b after l, m beside rounded vowels and z, the same voices; T 24-29:
                        6 with the classes of the held-out misses (m after a rounded vowel
                        before w, b after m, p after v, m after s), the same voices
  test_V_T.wav/.phones  6 other sentences x 4 other voices (en-us+m3 160, en-gb-x-rp 190,
                        en-us+f2 230, en-029 150): held out, measured only

.phones: one "START_SECONDS PHONEME" line per phoneme event (espeak-ng's names: m, b, p,
_: for a pause, ...).  usage: speak_corpus.py OUTDIR  (then bench_speak, docs/SPEAK.md)"""
import ctypes
import os
import sys
import wave

lib = ctypes.CDLL("libespeak-ng.so.1")


class Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("uid", ctypes.c_uint), ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int), ("user_data", ctypes.c_void_p),
                ("id", ctypes.c_char * 8)]


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))
state = {"pcm": bytearray(), "phones": []}


def on_synth(wav, n, events):
    if n > 0 and wav:
        state["pcm"].extend(ctypes.string_at(wav, n * 2))
    i = 0
    while events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
        if events[i].type == 7:  # espeakEVENT_PHONEME
            state["phones"].append((events[i].audio_position / 1000.0, events[i].id.split(b"\0")[0].decode()))
        i += 1
    return 0


DEV = ["Mama bought a big map. We were wary. Bob made my mom a pumpkin pie, maybe.",
       "Peter Piper picked a peck of pickled peppers. Boom, moo, we sleep deeply.",
       "The quick brown fox jumps over the lazy dog, and the baby bear ambles by.",
       "Please bring me a bowl of warm soup, some bread and a plum from the market.",
       "My brother promised to paint the barn before the rain comes back in May.",
       "I think that nobody knows what the weather will do tomorrow afternoon."]
# More dev sentences, rich in f/v (the acoustic cues of video/labials.c were tuned on these as
# well): dev_V_6 .. dev_V_11, made after the held-out clips so that those stay as they were
# (libespeak-ng's output depends a little on what it said before).
DEV_MORE = ["Five fine fish swam over the waves of the vast river.",
            "Every February the fox fled from the farmer's heavy van.",
            "Victor found a photo of his favourite villa in France.",
            "We loved the view from the cliff, far above the valley.",
            "If you leave the office, phone me before five forty.",
            "The knife was heavy, but the chef of the cafe never gave up."]
TEST = ["Maybe the boat will be back by the time the moon is up above the bay.",
        "A big problem for the people in the room was simply the temperature.",
        "Jump up, Bill, and pass me the map; the bus to Boston leaves at nine.",
        "She sells seashells by the seashore while the sun goes down slowly.",
        "Members of the public may submit comments by email before the end of September.",
        "Remember to buy milk, butter, apples, lemons and a box of pepper mints."]
# More dev sentences, rich in m and b after m or beside rounded vowels (the b/m cues of
# video/labials.c): dev_V_12 .. dev_V_17, made last so that every clip before stays as it was.
DEV_MB = ["Tom remembers the number of lambs in the room.",
          "Jimmy moved the lamp from the tomb to the museum.",
          "My mum combed the bamboo broom and hummed a tune.",
          "Some members were amused by the drum and the trombone.",
          "The plumber climbed up to the roof of the umber home.",
          "A humble monk may move among the empty tombs."]
# More dev sentences, with b after l, m beside rounded vowels and z (the misses left by the
# rules above): dev_V_18 .. dev_V_23, made last so that every clip before stays as it was.
DEV_LBZ = ["The old bulb fell below the table by the elbow of the hall.",
           "We will be all by ourselves, still busy with the album.",
           "Whose room was as smooth as the moon at noon?",
           "Zoe's zoo has zebras, and his dogs doze in the breeze.",
           "The boys choose roses, as these are his mother's dozen.",
           "A small boot and a cool bowl were in the tomb of the moor."]
# More dev sentences, with the classes of the held-out misses left after those (an m after
# a rounded vowel before w, b after m inside a word, p after v, m after s, m at the start):
# dev_V_24 .. dev_V_29, made last so that every clip before stays as it was.
DEV_MISS = ["Whom would the gloomy groom warn with a loom?",
            "In December the number of timber chambers was enormous.",
            "Give Peter a pile of paper and a bag of peas.",
            "Kiss me, tell us more, and miss my month of rest.",
            "Most men recall the cucumber somebody ate in November.",
            "Move forward, and we will zoom west with the boom."]
DEV_VOICES = [("en-us", 175), ("en", 140), ("en-us+f3", 200)]
SETS = [("dev", 0, DEV, DEV_VOICES),
        ("test", 0, TEST, [("en-us+m3", 160), ("en-gb-x-rp", 190), ("en-us+f2", 230), ("en-029", 150)]),
        ("dev", len(DEV), DEV_MORE, DEV_VOICES),
        ("dev", len(DEV) + len(DEV_MORE), DEV_MB, DEV_VOICES),
        ("dev", len(DEV) + len(DEV_MORE) + len(DEV_MB), DEV_LBZ, DEV_VOICES),
        ("dev", len(DEV) + len(DEV_MORE) + len(DEV_MB) + len(DEV_LBZ), DEV_MISS, DEV_VOICES)]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    callback = CALLBACK(on_synth)
    rate = lib.espeak_Initialize(2, 0, None, 1)  # AUDIO_OUTPUT_SYNCHRONOUS, phoneme events
    if rate <= 0:
        sys.exit("libespeak-ng does not start")
    lib.espeak_SetSynthCallback(callback)
    count = 0
    for name, first, texts, voices in SETS:
        for v, (voice, wpm) in enumerate(voices):
            for t, text in enumerate(texts):
                state["pcm"], state["phones"] = bytearray(), []
                lib.espeak_SetVoiceByName(voice.encode())
                lib.espeak_SetParameter(1, wpm, 0)  # espeakRATE
                data = text.encode() + b"\0"
                lib.espeak_Synth(data, len(data), 0, 1, 0, 1, None, None)  # POS_CHARACTER, espeakCHARS_UTF8
                lib.espeak_Synchronize()
                base = f"{out}/{name}_{v}_{first + t}"
                with wave.open(base + ".wav", "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(rate)
                    w.writeframes(bytes(state["pcm"]))
                with open(base + ".phones", "w") as f:
                    for start, phone in state["phones"]:
                        f.write(f"{start:.3f} {phone}\n")
                count += 1
    print(f"{count} clips in {out} ({rate} Hz)")


main()
