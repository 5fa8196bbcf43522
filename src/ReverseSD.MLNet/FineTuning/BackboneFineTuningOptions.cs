namespace ReverseSD.MLNet.FineTuning;

/// <summary>
/// Which part of the image backbone trains together with the heads (paper §4: its models are fine-tuned end to end).
/// Values are persisted in reports: they are explicit and never renumbered.
/// </summary>
public enum BackboneFineTuning
{
    /// <summary>The backbone stays frozen; only the heads train (the fast default on a CPU).</summary>
    None = 0,

    /// <summary>ResNet18's last layer trains with the heads, on layer-3 activations computed once per image (the CPU setting).</summary>
    Layer4 = 1,

    /// <summary>The whole backbone trains with the heads (the GPU setting; not run on these CPU-only machines).</summary>
    All = 2,
}

/// <summary>Options of backbone fine-tuning (<see cref="BackboneFineTuning"/>); the heads keep their own options.</summary>
public sealed class BackboneFineTuningOptions
{
    /// <summary>Defaults of the options.</summary>
    public static class Defaults
    {
        /// <summary>The backbone's learning rate: ten times lower than the heads' (1e-3).</summary>
        public const double LearningRate = 1e-4;

        /// <summary>Passes over the training images while the backbone trains.</summary>
        public const int NumberOfEpochs = 5;

        /// <summary>Epochs the heads train alone on the frozen backbone's features before the joint epochs.</summary>
        public const int HeadsWarmupEpochs = 0;
    }

    /// <summary>A copy, so that changing these options after use changes nothing.</summary>
    internal BackboneFineTuningOptions Clone() => (BackboneFineTuningOptions)MemberwiseClone();

    /// <summary>What trains; <see cref="BackboneFineTuning.None"/> by default.</summary>
    public BackboneFineTuning Mode { get; set; } = BackboneFineTuning.None;

    /// <summary>Learning rate of the backbone's trained layers (Adam), lower than the heads'.</summary>
    public double LearningRate { get; set; } = Defaults.LearningRate;

    /// <summary>Epochs of joint training; the epoch with the best validation mean cosine is kept.</summary>
    public int NumberOfEpochs { get; set; } = Defaults.NumberOfEpochs;

    /// <summary>
    /// Epochs the heads train alone on the frozen backbone's features first (epoch 0 of the history: its validation cosine is the
    /// frozen backbone's, and it is kept when no joint epoch beats it); 0 starts the joint epochs from fresh heads.
    /// </summary>
    public int HeadsWarmupEpochs { get; set; } = Defaults.HeadsWarmupEpochs;

    /// <summary>Checks the values; throws <see cref="ReverseSdInputException"/> naming the option.</summary>
    internal void Validate()
    {
        if (!Enum.IsDefined(Mode)) throw new ReverseSdInputException($"Fine-tuning mode {Mode} is unknown: use none, layer4 or all.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
            throw new ReverseSdInputException($"The backbone learning rate must be positive; got {LearningRate}.");
        if (NumberOfEpochs < 1) throw new ReverseSdInputException($"The fine-tuning epochs must be at least 1; got {NumberOfEpochs}.");
        if (HeadsWarmupEpochs < 0) throw new ReverseSdInputException($"The heads' warm-up epochs before fine-tuning must be >= 0; got {HeadsWarmupEpochs}.");
    }
}
