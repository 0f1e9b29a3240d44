/* face/motion: a template's audio path is saved relative to the template's folder and
 * resolved against it on loading (issue 18, item 11): a template moved with its video keeps
 * the audio; templates made before (absolute paths) still load; an audio file that is not
 * there is kept as given. */
#include "face/motion.h"
#include "test.h"

#include <limits.h>
#include <unistd.h>

static void touch(const char *path) {
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
}

/* The "audio" value of a template file, as written. */
static void saved_audio(const char *template_path, char *out, size_t size) {
    out[0] = 0;
    uint8_t *data = NULL;
    size_t length = 0;
    if (file_read_all(template_path, 1 << 20, &data, &length) != VV_OK) return;
    const char *at = strstr((const char *)data, "\"audio\": ");
    if (at) {
        at += 9;
        size_t n = strcspn(at, ",\n");
        snprintf(out, size, "%.*s", (int)n, at);
    }
    free(data);
}

static vv_status save_with_audio(const char *audio, const char *path) {
    motion_track track;
    vv_status s = motion_track_alloc(&track, 2);
    if (s != VV_OK) return s;
    track.found[0] = track.found[1] = 1;
    track.audio = audio ? strdup(audio) : NULL;
    s = motion_save(&track, path);
    motion_track_free(&track);
    return s;
}

int main(void) {
    char root[] = "/tmp/vv_motion_audio_XXXXXX";
    if (!mkdtemp(root)) {
        fprintf(stderr, "cannot make a temp folder\n");
        return 1;
    }
    char resolved[PATH_MAX], real_root[256]; /* short, so the paths below fit */
    CHECK(realpath(root, resolved) != NULL && strlen(resolved) < sizeof real_root);
    snprintf(real_root, sizeof real_root, "%.255s", resolved);
    char path[PATH_MAX], audio[PATH_MAX], template_path[PATH_MAX], moved[PATH_MAX], text[PATH_MAX];
    snprintf(path, sizeof path, "%s/a", real_root);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/a/clips", real_root);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/a/templates", real_root);
    mkdir(path, 0700);
    snprintf(audio, sizeof audio, "%s/a/clips/drv.mp4", real_root);
    touch(audio);

    /* In a sibling folder: "../clips/drv.mp4"; loaded back, it names the same file. */
    snprintf(template_path, sizeof template_path, "%s/a/templates/m.json", real_root);
    CHECK_OK(save_with_audio(audio, template_path));
    saved_audio(template_path, text, sizeof text);
    CHECK_MSG(!strcmp(text, "\"../clips/drv.mp4\""), "saved %s", text);
    motion_track track;
    CHECK_OK(motion_load(&track, template_path));
    CHECK(track.audio && file_exists(track.audio));
    motion_track_free(&track);

    /* Beside the video: the bare name. */
    snprintf(template_path, sizeof template_path, "%s/a/clips/m.json", real_root);
    CHECK_OK(save_with_audio(audio, template_path));
    saved_audio(template_path, text, sizeof text);
    CHECK_MSG(!strcmp(text, "\"drv.mp4\""), "saved %s", text);

    /* Both moved together: still found. */
    snprintf(moved, sizeof moved, "%s/b", real_root);
    snprintf(path, sizeof path, "%s/a", real_root);
    CHECK(rename(path, moved) == 0);
    snprintf(template_path, sizeof template_path, "%s/b/templates/m.json", real_root);
    CHECK_OK(motion_load(&track, template_path));
    CHECK_MSG(track.audio && file_exists(track.audio), "moved: %s", track.audio ? track.audio : "(none)");
    motion_track_free(&track);

    /* A relative template path (from the working folder) resolves the same way. */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(real_root) == 0);
    CHECK_OK(motion_load(&track, "b/templates/m.json"));
    CHECK_MSG(track.audio && !strcmp(track.audio, "b/templates/../clips/drv.mp4"), "relative: %s",
              track.audio ? track.audio : "(none)");
    motion_track_free(&track);
    CHECK(chdir(cwd) == 0);

    /* An old template with an absolute path loads it as it is; an audio that is not there is
     * saved as given (nothing to be relative to), and loading keeps it for the caller to
     * report. */
    snprintf(template_path, sizeof template_path, "%s/old.json", real_root);
    FILE *f = fopen(template_path, "wb");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "{\"format\": \"vivify-motion\", \"version\": 1, \"fps\": 25, \"audio\": \"/nowhere/x.mp4\", "
                   "\"frames\": [[");
        for (int k = 0; k < 68; k++) fprintf(f, "%s[%d, %d]", k ? ", " : "", k, k);
        fprintf(f, "]]}\n");
        fclose(f);
    }
    CHECK_OK(motion_load(&track, template_path));
    CHECK(track.audio && !strcmp(track.audio, "/nowhere/x.mp4"));
    motion_track_free(&track);
    snprintf(template_path, sizeof template_path, "%s/gone.json", real_root);
    CHECK_OK(save_with_audio("/nowhere/x.mp4", template_path));
    saved_audio(template_path, text, sizeof text);
    CHECK_MSG(!strcmp(text, "\"/nowhere/x.mp4\""), "missing audio saved as %s", text);

    /* Clean up. */
    const char *files[] = {"b/clips/drv.mp4", "b/clips/m.json", "b/templates/m.json", "old.json", "gone.json",
                           "b/clips", "b/templates", "b", ""};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", real_root, files[i]);
        remove(path);
    }
    return test_finish("test_motion_audio");
}
