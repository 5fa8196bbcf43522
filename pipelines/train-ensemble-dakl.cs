// The full system of the paper in the shape of Model Builder's generated code: one ML.NET estimator chain — for each
// backbone its features and heads trained with the curriculum (§3), the ensemble (§4.9), DAKL adapting to the unlabelled
// target-domain images (§3, Eq. 5-7), the nearest prompts of a prompt bank (§4.10) — one Fit, one Save, then the
// PredictionEngine code an app uses. Run it from the repository root (it builds the library on first use):
//   dotnet run pipelines/train-ensemble-dakl.cs                                          # generates a small benchmark first
//   dotnet run pipelines/train-ensemble-dakl.cs -- DATA_DIR model.zip [EPOCHS] [BACKBONES]   # e.g. 20 resnet18,resnet18-288
// Edit it freely: the members, the combination rule, DAKL's r, γ and α grids, the curriculum, the prompt bank ("train", "none" or a bank file).
#:project ../src/ReverseSD.MLNet/ReverseSD.MLNet.csproj
#:property PublishAot=false

using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Text;

string dataDirectory = args.Length > 0 ? args[0] : Path.Combine("out", "pipeline-benchmark");
string modelPath = args.Length > 1 ? args[1] : Path.Combine("out", "pipeline-ensemble.zip");
int epochs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20;
string[] backbones = (args.Length > 3 ? args[3] : "resnet18,resnet18-160").Split(',');
if (!File.Exists(Path.Combine(dataDirectory, "train", ImageFolderDataset.MetadataFileName)))
{
    Console.WriteLine($"Generating a small benchmark in {dataDirectory} ...");
    SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 600, Validation = 100, Test = 100, Seed = 1 }, dataDirectory);
}

var mlContext = new MLContext(seed: 1);
// One data view: the labelled training images, then the validation and test images with an empty Prompt. The heads train
// on the labelled rows only; DAKL uses the empty-prompt rows as its unlabelled target domain (their prompts are never read).
List<ModelInput> Images(string split, bool labelled) => ImageFolderDataset.Read(dataDirectory, split)
    .Select(p => new ModelInput { ImagePath = Path.GetFullPath(Path.Combine(dataDirectory, split, p.FileName)), Prompt = labelled ? p.Prompt : "" }).ToList();
bool hasValidation = File.Exists(Path.Combine(dataDirectory, "validation", ImageFolderDataset.MetadataFileName));
IDataView train = mlContext.Data.LoadFromEnumerable(Images("train", labelled: true)
    .Concat(hasValidation ? Images("validation", labelled: false) : []).Concat(Images("test", labelled: false)).ToList());
// The labelled validation images: each member's best epoch, the ensemble weights (weighted mean) and DAKL's γ, α are chosen on them.
IDataView? validation = hasValidation ? mlContext.Data.LoadFromEnumerable(Images("validation", labelled: true)) : null;

// The system, as one estimator (ReverseSdPipeline, the same stages `reversesd train` fits): for each backbone,
// last to first, ApplyImageBackbone (ImagePath -> ImageFeatures) and PromptEmbeddingHeads with the raw Prompt as label
// (configuration 3, λ = 0.1, the curriculum easy -> all in equal thirds), its PredictedEmbedding copied to MemberEmbedding{k};
// then CombineEmbeddings (mean of the L2-normalised members) -> EnsembleEmbedding; DomainAdaptiveKernel (r = 10,000 centroids
// capped at the training set size; γ, α chosen on validation over the grids, DAKL left out if it loses there) -> PredictedEmbedding;
// NearestPrompts over the bank (here the distinct training prompts) -> NearestPrompts, NearestPromptScores.
var pipeline = ReverseSdPipeline.Create(mlContext, new ReverseSdEnsembleOptions
{
    Members = backbones.Select(b => new ReverseSdTrainingOptions
    {
        Backbone = b,
        VocabularySize = 1000,
        Heads = new PromptEmbeddingHeadsTrainer.Options
        {
            Configuration = HeadConfiguration.EmbeddingFeedsVocabulary,
            VocabularyWeight = 0.1f,
            NumberOfEpochs = epochs,
            Seed = 1,
            Curriculum = new CurriculumOptions { Splitting = CurriculumSplitting.Thirds },
        },
    }).ToList(),
    Combination = EnsembleCombination.Mean,
    UseDakl = true,
    DaklCentroids = 10_000,
    DaklSelection = DaklSelectionMode.Validation,
    DaklGammaGrid = [0.001f, 0.01f, 0.1f, 1f],
    DaklAlphaGrid = [0.01f, 0.1f, 1f, 10f],
    PromptBank = "train",
});

Console.WriteLine($"Training {backbones.Length} members + ensemble + DAKL + prompt bank (one Fit) ...");
// A fitted ONNX stage holds an ONNX Runtime session and a temporary copy of its graph: dispose what you fit (`using`).
using var model = pipeline.Fit(train, validation);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
mlContext.Model.Save(model, train.Schema, modelPath);
Console.WriteLine($"saved {modelPath}");

// Evaluate on the test split: mean cosine between predicted and true prompt embeddings, before and after DAKL.
IDataView test = ImageFolderDataset.Load(mlContext, dataDirectory, "test");
using var embedder = mlContext.Transforms.Text.EmbedSentences("PromptEmbedding", "Prompt").Fit(test);
var scoredTest = embedder.Transform(model.Transform(test));
var ensembleMetrics = PromptEmbeddingEvaluator.Evaluate(scoredTest, "EnsembleEmbedding");
var metrics = PromptEmbeddingEvaluator.Evaluate(scoredTest);
var dakl = model.OfType<DomainAdaptiveKernelTransformer>().SingleOrDefault();
Console.WriteLine($"test mean cosine: ensemble {ensembleMetrics.MeanCosine:F4} ± {ensembleMetrics.StandardError:F4}, "
    + (dakl == null ? "DAKL left out (it lost to the plain ensemble on validation)"
        : $"ensemble + DAKL (γ = {dakl.Selection.Gamma}, α = {dakl.Selection.Alpha}) {metrics.MeanCosine:F4} ± {metrics.StandardError:F4}") + $" (n = {metrics.Count})");

// What an app does: load the zip (Microsoft.ML + ImageAnalytics + OnnxTransformer are enough) and score one image.
var appContext = new MLContext();
ITransformer loaded = appContext.Model.Load(modelPath, out _);
using var loadedModel = (IDisposable)loaded;   // the loaded chain holds ONNX Runtime sessions too
using var engine = appContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(loaded);
string image = ImageFolderDataset.Read(dataDirectory, "test").Select(p => Path.Combine(dataDirectory, "test", p.FileName)).First();
var output = engine.Predict(new ModelInput { ImagePath = Path.GetFullPath(image) });
Console.WriteLine($"{Path.GetFileName(image)}: {output.PredictedEmbedding.Length}-d embedding; nearest prompts:");
for (int i = 0; i < output.NearestPrompts.Length; i++)
    Console.WriteLine($"  {output.NearestPromptScores[i]:F3}  {output.NearestPrompts[i]}");

/// <summary>The model's input: the image file path (the Prompt is read only by training).</summary>
public sealed class ModelInput
{
    public string ImagePath { get; set; } = "";

    public string Prompt { get; set; } = "";
}

/// <summary>The model's outputs: the predicted prompt embedding and the nearest prompts of the bank with their cosines.</summary>
public sealed class ModelOutput
{
    public float[] PredictedEmbedding { get; set; } = [];

    public string[] NearestPrompts { get; set; } = [];

    public float[] NearestPromptScores { get; set; } = [];
}
