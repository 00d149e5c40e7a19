from hotline.cli import app

if __name__ == "__main__":  # not when a child process (the record writer) imports it
    app(prog_name="hotline")
