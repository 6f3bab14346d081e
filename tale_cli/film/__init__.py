"""The film's media work: ffmpeg (media), the MP4 index (mp4), stitching clips (stitch), the voice track and the music
bed (voice, music, tracks), the mix to a loudness target (mix), subtitles and captions, drawing and fonts.

Nothing here knows a run folder: tale_cli.run.cut assembles a run's film from these parts."""
