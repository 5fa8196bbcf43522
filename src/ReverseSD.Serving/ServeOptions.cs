using ReverseSD.MLNet.Composer;

namespace ReverseSD.Serving;

/// <summary>Options of the scoring server: the model, where it listens, how many images it scores at once and its limits.</summary>
public sealed class ServeOptions
{
    /// <summary>The model zip written by <c>reversesd train</c>; loaded once when the server starts.</summary>
    public string ModelPath { get; set; } = "";

    /// <summary>A prompt bank (<c>reversesd bank build</c>) searched for the nearest prompts; null uses the bank inside the model zip, if any.</summary>
    public string? BankPath { get; set; }

    /// <summary>How the prompt is made from the nearest prompts, as <c>reversesd predict --compose</c> (default beam).</summary>
    public CompositionMethod Composition { get; set; } = CompositionMethod.Beam;

    /// <summary>The addresses to listen on; loopback only by default (put a reverse proxy with TLS and auth in front before exposing it).</summary>
    public string Urls { get; set; } = Defaults.Urls;

    /// <summary>Requests scored at the same time (one pooled scorer each); default: the number of cores.</summary>
    public int MaxConcurrency { get; set; } = Environment.ProcessorCount;

    /// <summary>Requests that may wait for a scorer; beyond it a request gets 503 with Retry-After.</summary>
    public int MaxQueue { get; set; } = Defaults.MaxQueue;

    /// <summary>The largest request body in bytes (default 20 MB); a larger upload gets 413.</summary>
    public long MaxUploadBytes { get; set; } = Defaults.MaxUploadBytes;

    /// <summary>The most images one batch request may carry.</summary>
    public int MaxBatchImages { get; set; } = Defaults.MaxBatchImages;

    /// <summary>Vocabulary words returned per image, most probable first.</summary>
    public int TopWords { get; set; } = Defaults.TopWords;

    /// <summary>Seconds in-flight requests get to finish after Ctrl-C or SIGTERM.</summary>
    public int ShutdownSeconds { get; set; } = Defaults.ShutdownSeconds;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Loopback, port 5000.</summary>
        public const string Urls = "http://127.0.0.1:5000";

        /// <summary>64 waiting requests.</summary>
        public const int MaxQueue = 64;

        /// <summary>20 MB.</summary>
        public const long MaxUploadBytes = 20L * 1024 * 1024;

        /// <summary>64 images per batch request.</summary>
        public const int MaxBatchImages = 64;

        /// <summary>10 words, as <c>reversesd predict</c>.</summary>
        public const int TopWords = 10;

        /// <summary>30 seconds.</summary>
        public const int ShutdownSeconds = 30;
    }

    /// <summary>Throws <see cref="MLNet.ReverseSdInputException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelPath)) throw new MLNet.ReverseSdInputException("--model is required: a model zip from 'reversesd train'.");
        if (string.IsNullOrWhiteSpace(Urls)) throw new MLNet.ReverseSdInputException("--urls is empty: give an address such as http://127.0.0.1:5000.");
        if (MaxConcurrency < 1) throw new MLNet.ReverseSdInputException($"--max-concurrency must be >= 1; got {MaxConcurrency}.");
        if (MaxQueue < 0) throw new MLNet.ReverseSdInputException($"--max-queue must be >= 0; got {MaxQueue}.");
        if (MaxUploadBytes < 1024) throw new MLNet.ReverseSdInputException($"--max-upload-mb gives {MaxUploadBytes} bytes; it must be at least 1 KB.");
        if (MaxBatchImages < 1) throw new MLNet.ReverseSdInputException($"The batch limit must be >= 1; got {MaxBatchImages}.");
        if (TopWords < 0) throw new MLNet.ReverseSdInputException($"--top-words must be >= 0; got {TopWords}.");
        if (ShutdownSeconds < 0) throw new MLNet.ReverseSdInputException($"--shutdown-timeout must be >= 0 seconds; got {ShutdownSeconds}.");
    }
}
