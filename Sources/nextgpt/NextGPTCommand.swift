import ArgumentParser
import NextGPTFormats

@main
struct NextGPTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nextgpt",
        abstract: "Convert NExT-GPT's upstream checkpoints into one mmap-able GGUF container, inspect it, verify it and run it.",
        discussion: """
        Examples:
          nextgpt convert --vicuna vicuna-7b-v0/ --delta nextgpt_7b_tiva_v0/ --imagebind imagebind_huge.pth \\
                          --sd15 stable-diffusion-v1-5/ --audioldm audioldm-l-full/ --zeroscope zeroscope_v2_576w/ \\
                          --type q4_0 -o nextgpt-q4_0.gguf
          nextgpt inspect nextgpt-q4_0.gguf
          nextgpt verify-file nextgpt-q4_0.gguf
          nextgpt generate -m nextgpt-q4_0.gguf -p "### Human: Hello ### Assistant:" --stop "###"
          nextgpt export-llama-gguf -m nextgpt-q4_0.gguf -o vicuna-nextgpt-q4_0.gguf   # for llama.cpp
          nextgpt sd -m nextgpt-q4_0.gguf -p "a red fox in the snow" --steps 20 --seed 1 -o fox.png
          nextgpt video -m nextgpt-q4_0.gguf -p "a panda playing the guitar" --frames 16 --seed 1 -o panda.mp4
          nextgpt run -m nextgpt-q4_0.gguf --image cat.jpg -p "What is in this picture? Draw it in snow." -o out/
          nextgpt sd -m nextgpt-q4_0.gguf -p "a cat" --check -o cat.png   # --check: refuse damaged sd15 tensors first
        """,
        subcommands: [ConvertCommand.self, InspectCommand.self, VerifyFileCommand.self, VerifyCommand.self,
                      GenerateCommand.self, ChatCommand.self, RunCommand.self, ServeCommand.self, SDCommand.self, AudioCommand.self, VideoCommand.self, EmbedCommand.self, BenchCommand.self,
                      ExportLlamaCommand.self])
}
