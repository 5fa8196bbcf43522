using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Tests.Text;

/// <summary>One encoder (one ONNX Runtime session) shared by a test class.</summary>
public sealed class SentenceEncoderFixture : IDisposable
{
    internal SentenceEncoder Encoder { get; } = SentenceEncoder.Load();

    public void Dispose() => Encoder.Dispose();
}
