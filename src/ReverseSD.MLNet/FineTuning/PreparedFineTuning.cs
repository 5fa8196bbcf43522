using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.FineTuning;

/// <summary>
/// The facade's fine-tuning step (<see cref="ReverseSdTrainingOptions.FineTuning"/>): fine-tunes the prepared backbone on
/// the prepared training split (targets and vocabulary labels as the heads use them; validation split for the best epoch)
/// and returns the backbone with the new weights, which the facade then featurises, trains the heads on and saves.
/// </summary>
internal static class PreparedFineTuning
{
    /// <summary>Refuses, before any work, a fine-tuning these options cannot run (bad values, <c>all</c> on this CPU build, a backbone that is not ResNet18).</summary>
    public static void Check(ReverseSdTrainingOptions options, Backbones.ImageBackbone backbone)
    {
        var fineTuning = options.FineTuning ?? throw new ReverseSdInputException("FineTuning options must be set (Mode = None for no fine-tuning).");
        fineTuning.Validate();
        if (fineTuning.Mode == BackboneFineTuning.All)
            throw new ReverseSdInputException(
                "--finetune all trains the whole backbone on every image in every epoch: it is the GPU setting, and this build of TorchSharp is CPU-only. " +
                "Use --finetune layer4 on a CPU (layers 1-3 run once per image).");
        if (fineTuning.Mode != BackboneFineTuning.None && !backbone.IsResNet18)
            throw new ReverseSdInputException(
                $"--finetune {fineTuning.Mode.ToString().ToLowerInvariant()} needs a ResNet18 preset backbone (resnet18, resnet18-SIZE, resnet18-grid or resnet18-map); '{backbone.Name}' is not one: use --finetune none.");
    }

    /// <summary>
    /// Member <paramref name="member"/>'s backbone of <paramref name="data"/> fine-tuned as <paramref name="options"/> say (that
    /// member's options): the prepared training split's targets and vocabulary labels, the validation split for the best epoch.
    /// </summary>
    public static FineTunedBackbone Run(PreparedSplits data, ReverseSdTrainingOptions options, IProgress<ProgressReport>? progress,
        CancellationToken cancellationToken, int member = 0, Layer3ActivationCache? sharedActivations = null)
    {
        var fineTuning = options.FineTuning;
        Check(options, data.Backbones[member]);
        if (fineTuning.Mode == BackboneFineTuning.None) throw new InvalidOperationException("Fine-tuning was not asked for.");
        var vocabulary = options.Heads.Configuration == HeadConfiguration.Vanilla ? null : data.Vocabulary(options.VocabularySize);
        FineTuningImages Images(PreparedSplit split) => new(split.ImagePaths, split.Targets,
            vocabulary == null ? null : split.Prompts.Select(p => VocabularyLabelsDataView.DenseLabels(p, vocabulary)).ToArray());
        return Layer4FineTuner.Run(data.Backbones[member], Images(data.Train), data.Validation == null ? null : Images(data.Validation),
            options.Heads, fineTuning, progress, cancellationToken, sharedActivations);
    }
}
