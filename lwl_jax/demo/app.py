"""The demo's Gradio page: inputs -> ``lwl_jax.demo`` functions -> outputs. Every request works in its own folder,
so two tabs never mix their results; a user's mistake is shown as a message in the page."""
from __future__ import annotations

import gradio as gr

from lwl_jax.demo import BUILTIN_CLIPS, OBJECT_COLORS, DemoError, first_frame_objects, load_clip, mode_params, track


def build_app(model, variables, params, kind: str, workdir: str, max_frames: int = 300):
    box_model = kind == "lwl_boxinit"
    clips = list(BUILTIN_CLIPS)

    def show_first_frame(clip_name, video_path):
        try:
            frame = load_clip(clip_name, video_path, max_frames)[0]
        except DemoError as e:
            raise gr.Error(str(e)) from None
        return {"background": frame, "layers": [], "composite": frame}

    def run(clip_name, video_path, mode, editor_value, palette_png, progress=gr.Progress()):  # noqa: B008
        try:
            frames = load_clip(clip_name, video_path, max_frames)
            objects, labels = first_frame_objects(mode, editor_value, palette_png, frames.shape[1:3], box_model)
        except DemoError as e:
            raise gr.Error(str(e)) from None
        out = track(model, variables, mode_params(params, mode), frames, objects, labels, workdir,
                    lambda it: progress.tqdm(it, desc="segmenting", unit="frame"))
        return out["video"], [out["zip"], out["video"]], f"Tracked {len(objects)} object(s) over {len(frames)} frames."

    def encodings(clip_name, video_path, editor_value, palette_png):
        from lwl_jax.visualize import encodings_picture

        try:
            frames = load_clip(clip_name, video_path, max_frames)
            _, labels = first_frame_objects("mask", editor_value, palette_png, frames.shape[1:3], box_model)
        except DemoError as e:
            raise gr.Error(str(e)) from None
        return encodings_picture(model, variables, mode_params(params, "mask"), frames.__getitem__, len(frames),
                                 labels)

    with gr.Blocks(title="LWL video object segmentation") as app:
        gr.Markdown("## Learning What to Learn — video object segmentation\n"
                    "1. Choose a clip. 2. Paint each object on its first frame (one brush colour per object"
                    + (", or choose *boxes* and drag a stroke across each object" if box_model else "")
                    + ") or upload a first-frame palette PNG. 3. Press **Track**.")
        with gr.Row():
            clip = gr.Dropdown(clips, value=clips[0], label="Built-in clip", elem_id="clip")
            video = gr.Video(label="…or upload a video (MP4)", sources=["upload"], elem_id="upload")
        mode = gr.Radio(["mask", "boxes"], value="mask", label="Start from", elem_id="mode")
        editor = gr.ImageEditor(value=show_first_frame(clips[0], None), type="numpy", sources=(), layers=False,
                                transforms=(), elem_id="editor", label="First frame",
                                brush=gr.Brush(colors=OBJECT_COLORS, default_color=OBJECT_COLORS[0],
                                               color_mode="fixed", default_size=8))
        palette = gr.File(label="…or a first-frame palette PNG", file_types=[".png"], elem_id="palette")
        button = gr.Button("Track", variant="primary", elem_id="track")
        status = gr.Markdown(elem_id="status")
        result = gr.Video(label="Overlay", elem_id="result", autoplay=True)
        files = gr.File(label="Downloads: masks (zip of palette PNGs) and the overlay video", file_count="multiple",
                        elem_id="downloads")
        with gr.Accordion("What the network learned (paper Fig. 11): E(y), |W(y)| and T_τ(x)", open=False):
            enc_button = gr.Button("Show the learned encodings for this clip and mask", elem_id="encodings")
            enc_image = gr.Image(label="learned encodings (lwl_jax.visualize)", elem_id="encodings_image")
        clip.change(show_first_frame, [clip, video], editor)
        video.change(show_first_frame, [clip, video], editor)
        button.click(run, [clip, video, mode, editor, palette], [result, files, status], concurrency_limit=1)
        enc_button.click(encodings, [clip, video, editor, palette], enc_image, concurrency_limit=1)
    return app
